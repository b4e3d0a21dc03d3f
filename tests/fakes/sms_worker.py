"""The SMS worker's unit of work in memory: the repositories of `SmsWork`, same semantics.

Each fake keeps records, not documents, and applies the rules the Mongo repository applies in
its filters: one user per phone, a profile written only at the version read, the conversation
window bounded and each exchange added once, the first record of a message, alert, result or
decision kept, billing access and opt-outs newest-wins, and outbound rows forward only. The
contract tests (`tests/integration/sms_worker/test_*_contract.py`) hold both to the same
assertions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Generic, TypeVar

from domain import send_status
from services.sms_worker.domain.profile import Profile, changed_fields, profile_document
from services.sms_worker.domain.summary import ConversationWindow, SummaryUpdate
from services.sms_worker.records import (
    ALERT_ACKNOWLEDGED,
    ALERT_OPEN,
    Acknowledgement,
    Alert,
    AssessmentResult,
    Attachment,
    BillingAccess,
    Caregiver,
    Conversation,
    ConversationEntry,
    InboundSmsRecord,
    OutboundRequest,
    OutboundSmsRecord,
    ProactiveDecision,
    SendUpdate,
    ToolCall,
    User,
    supersedes,
)
from tests.fakes.unit_of_work import FakeUnitOfWork

_R = TypeVar("_R")


class _FirstKept(Generic[_R]):
    """Rows by id where a repeated write keeps the first (`$setOnInsert` upserts)."""

    def __init__(self) -> None:
        self.rows: dict[str, _R] = {}

    def _keep_first(self, row_id: str, row: _R) -> None:
        self.rows.setdefault(row_id, row)


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[str, User] = {}

    async def by_phone(self, phone: str) -> User | None:
        return next((user for user in self.rows.values() if user.phone == phone), None)

    async def add(self, user: User) -> User:
        found = await self.by_phone(user.phone)
        if found is not None:
            return found
        self.rows[user.id] = user
        return user


class FakeProfiles:
    def __init__(self) -> None:
        self.rows: dict[str, Profile] = {}

    async def get(self, user_id: str) -> Profile | None:
        return self.rows.get(user_id)

    async def create(self, profile: Profile, now: datetime) -> bool:
        if profile.user_id in self.rows:
            return False
        self.rows[profile.user_id] = profile.model_copy(update={"version": 1})
        return True

    async def update(self, before: Profile, after: Profile, now: datetime) -> bool:
        current = self.rows.get(before.user_id)
        if current is None or current.version != before.version:
            return False
        self._write(current, {**changed_fields(before, after), "version": before.version + 1})
        return True

    async def set_opt_out(
        self, user_id: str, *, opted_out: bool, changed_at: datetime, now: datetime
    ) -> bool:
        current = self.rows.get(user_id)
        if current is None:
            return False
        if current.opt_out_changed_at is not None and current.opt_out_changed_at >= changed_at:
            return False
        self._write(
            current,
            {
                "sms_opt_out": opted_out,
                "opted_out_at": changed_at if opted_out else None,
                "opt_out_changed_at": changed_at,
                "version": current.version + 1,
            },
        )
        return True

    def _write(self, current: Profile, fields: dict[str, object]) -> None:
        """`$set` on the stored document, read back as Mongo would return it."""
        self.rows[current.user_id] = Profile.model_validate({**profile_document(current), **fields})


class FakeConversations:
    def __init__(self) -> None:
        self.rows: dict[str, Conversation] = {}

    async def start(self, user_id: str, started_at: datetime, now: datetime) -> None:
        self.rows.setdefault(user_id, Conversation(user_id=user_id, started_at=started_at))

    async def get(self, user_id: str) -> Conversation | None:
        return self.rows.get(user_id)

    async def window(self, user_id: str, limit: int) -> ConversationWindow:
        conversation = self.rows.get(user_id)
        return conversation.window(limit) if conversation else ConversationWindow(())

    async def start_with(
        self,
        user_id: str,
        entries: Sequence[ConversationEntry],
        *,
        started_at: datetime,
        keep: int,
        now: datetime,
    ) -> None:
        await self.start(user_id, started_at, now)
        await self.add_exchange(user_id, entries, keep=keep, now=now)

    async def add_exchange(
        self, user_id: str, entries: Sequence[ConversationEntry], *, keep: int, now: datetime
    ) -> None:
        conversation = self._unless_added(user_id, entries[0])
        if conversation is not None:
            self.rows[user_id] = dataclasses.replace(
                conversation,
                entries=(*conversation.entries, *entries)[-keep:],
                interactions=conversation.interactions + 1,
                last_message_at=entries[0].at,
            )

    async def remember_outbound(
        self, user_id: str, entry: ConversationEntry, *, keep: int, now: datetime
    ) -> None:
        conversation = self._unless_added(user_id, entry)
        if conversation is not None:
            self.rows[user_id] = dataclasses.replace(
                conversation, entries=(*conversation.entries, entry)[-keep:]
            )

    def _unless_added(self, user_id: str, first: ConversationEntry) -> Conversation | None:
        """The conversation, unless there is none or `first` is in it already (a replay)."""
        conversation = self.rows.get(user_id)
        if conversation is None or any(e.id == first.id for e in conversation.entries):
            return None
        return conversation

    async def save_summary(self, user_id: str, update: SummaryUpdate, now: datetime) -> bool:
        conversation = self.rows.get(user_id)
        if conversation is None or conversation.summary_version != update.version - 1:
            return False
        self.rows[user_id] = dataclasses.replace(
            conversation,
            summary=update.text,
            summary_version=update.version,
            summarised_through=update.through,
        )
        return True


class FakeMessages:
    def __init__(self) -> None:
        self.inbound_rows: dict[str, InboundSmsRecord] = {}
        self.attachments: dict[str, Attachment] = {}
        self.outbound_rows: dict[str, OutboundSmsRecord] = {}

    async def record_inbound(
        self, message: InboundSmsRecord, requests: Sequence[OutboundRequest] = ()
    ) -> bool:
        new = message.id not in self.inbound_rows
        self.inbound_rows.setdefault(message.id, dataclasses.replace(message, attachments=()))
        for attachment in message.attachments:
            self.attachments.setdefault(attachment.id, attachment)
        for request in requests:
            await self.record_request(request)
        return new

    async def inbound(self, message_id: str) -> InboundSmsRecord | None:
        message = self.inbound_rows.get(message_id)
        if message is None:
            return None
        media = [a for a in self.attachments.values() if a.message_id == message_id]
        return dataclasses.replace(
            message, attachments=tuple(sorted(media, key=lambda a: a.position))
        )

    async def inbound_count(
        self, user_id: str, since: datetime, until: datetime, *, excluding: str
    ) -> int:
        return sum(
            1
            for message in self.inbound_rows.values()
            if message.user_id == user_id
            and since < message.created_at <= until
            and not message.rate_exempt
            and message.id != excluding
        )

    async def record_request(self, request: OutboundRequest) -> None:
        current = self.outbound_rows.get(request.key)
        if current is None:
            self.outbound_rows[request.key] = OutboundSmsRecord(
                key=request.key,
                user_id=request.user_id,
                body=request.body,
                kind=request.kind,
                status=send_status.PENDING,
                created_at=request.requested_at,
                updated_at=request.requested_at,
            )
            return
        self.outbound_rows[request.key] = dataclasses.replace(
            current,
            body=request.body,
            kind=request.kind,
            user_id=request.user_id if request.user_id is not None else current.user_id,
            created_at=min(current.created_at, request.requested_at),
        )

    async def apply_update(self, update: SendUpdate) -> bool:
        current = self.outbound_rows.get(update.key)
        if current is None:
            current = OutboundSmsRecord(
                key=update.key,
                user_id=None,
                body=update.body,
                kind=update.kind,
                status=update.status,
                created_at=update.at,
                updated_at=update.at,
            )
        elif not supersedes(update, current):
            return False
        self.outbound_rows[update.key] = dataclasses.replace(
            current,
            status=update.status,
            reopened=update.reopened,
            updated_at=update.at,
            # A step without a sid, code or user keeps what the row has.
            user_id=update.user_id if update.user_id is not None else current.user_id,
            provider_sid=update.provider_sid or current.provider_sid,
            error_code=update.error_code if update.error_code is not None else current.error_code,
        )
        return True

    async def outbound(self, key: str) -> OutboundSmsRecord | None:
        return self.outbound_rows.get(key)


class FakeToolCalls(_FirstKept[ToolCall]):
    async def record(self, calls: Sequence[ToolCall]) -> None:
        for call in calls:
            self._keep_first(call.id, call)

    async def of_message(self, message_id: str) -> list[ToolCall]:
        calls = [call for call in self.rows.values() if call.message_id == message_id]
        return sorted(calls, key=lambda call: call.position)


class FakeAlerts(_FirstKept[Alert]):
    async def record(self, alert: Alert) -> None:
        self._keep_first(alert.id, alert)

    async def get(self, alert_id: str) -> Alert | None:
        return self.rows.get(alert_id)

    async def acknowledge(self, acknowledgement: Acknowledgement) -> bool:
        alert = self.rows.get(acknowledgement.alert_id)
        if alert is None or alert.status != ALERT_OPEN:
            return False
        self.rows[alert.id] = dataclasses.replace(
            alert,
            status=ALERT_ACKNOWLEDGED,
            acknowledged_at=acknowledgement.at,
            acknowledged_by=acknowledgement.by,
            acknowledgement_note=acknowledgement.note or None,
        )
        return True


class FakeAssessments(_FirstKept[AssessmentResult]):
    async def record(self, result: AssessmentResult) -> None:
        self._keep_first(result.id, result)

    async def get(self, session_id: str) -> AssessmentResult | None:
        return self.rows.get(session_id)


class FakeProactiveLog(_FirstKept[ProactiveDecision]):
    async def record(self, decision: ProactiveDecision) -> None:
        self._keep_first(decision.key, decision)

    async def get(self, key: str) -> ProactiveDecision | None:
        return self.rows.get(key)


class FakeBillingAccess:
    def __init__(self) -> None:
        self.rows: dict[str, BillingAccess] = {}

    async def get(self, phone: str) -> BillingAccess | None:
        return self.rows.get(phone)

    async def apply(self, access: BillingAccess) -> bool:
        current = self.rows.get(access.phone)
        if current is not None and current.changed_at > access.changed_at:
            return False
        self.rows[access.phone] = access
        return True


class FakeCaregivers:
    """`Caregivers` over the fake users, profiles and messages."""

    def __init__(self, users: FakeUsers, profiles: FakeProfiles, messages: FakeMessages) -> None:
        self._users = users
        self._profiles = profiles
        self._messages = messages

    async def by_phone(
        self, phone: str, *, since: datetime, until: datetime, excluding: str
    ) -> Caregiver | None:
        user = await self._users.by_phone(phone)
        if user is None:
            return None
        counted = await self._messages.inbound_count(user.id, since, until, excluding=excluding)
        return Caregiver(user, await self._profiles.get(user.id), counted)


class FakeSmsWork(FakeUnitOfWork):
    """`SmsWork` in memory; also what a planned handler reads before its transaction."""

    def __init__(self) -> None:
        super().__init__()
        self.users = FakeUsers()
        self.profiles = FakeProfiles()
        self.conversations = FakeConversations()
        self.messages = FakeMessages()
        self.tool_calls = FakeToolCalls()
        self.alerts = FakeAlerts()
        self.assessments = FakeAssessments()
        self.billing_access = FakeBillingAccess()
        self.proactive_log = FakeProactiveLog()
        self.caregivers = FakeCaregivers(self.users, self.profiles, self.messages)


class FakeSmsViews:
    """`services/sms_worker/views.py`'s user and alert reads, over a `FakeSmsWork`'s rows."""

    def __init__(self, uow: FakeSmsWork) -> None:
        self._uow = uow

    async def user(self, user_id: str) -> User | None:
        return self._uow.users.rows.get(user_id)

    async def user_by_phone(self, phone: str) -> User | None:
        return await self._uow.users.by_phone(phone)

    async def alert(self, alert_id: str) -> Alert | None:
        return await self._uow.alerts.get(alert_id)
