"""The admin's writes against its in-memory repositories: roles live on operators keyed by phone
(no SMS-worker user is ever created), tokens are limited to what their operator holds, every
write is audited in the same transaction, and acknowledging an alert is a command the SMS worker
applies — the admin writes none of its data."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from services.admin.actions import AdminActions
from services.admin.auth import BOOTSTRAP_ACTOR, Actor, Role, operator, token_hash
from services.admin.broker import BrokerAccess
from services.admin.errors import BootstrapClosed, Conflict, Forbidden, InvalidRequest, NotFound
from services.admin.schemas import AcknowledgementRequested, OperatorRoles
from services.sms_worker.records import Alert, User
from shared.clock import ManualClock
from shared.config import BrokerSettings
from shared.events.catalog import (
    BillingReconcileRequested,
    CheckoutLinkRequested,
    CrisisAlertAcknowledged,
    SmsOutboundRequested,
)
from tests.fakes.admin import FakeAdminWork, FakeSenderViews
from tests.fakes.sms_worker import FakeSmsViews
from tests.unit.sms_worker.fake_worker import FakeSmsWorker

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
BOSS_PHONE = "+15555550100"
HELPER_PHONE = "+15555550101"
CAREGIVER = User(id="caregiver", phone="+15555550042", created_at=NOW)
ALERT = Alert(
    id="in:SM1:message",
    user_id=CAREGIVER.id,
    message_id="in:SM1",
    severity="high",
    domestic_violence=False,
    source="message",
    needs_human_follow_up=False,
    created_at=NOW - timedelta(hours=1),
)
CLI = operator("tests@localhost")


class World:
    """The admin's actions over fakes: its own repositories, the SMS worker's (seen through
    its views) and the sender's views."""

    def __init__(self) -> None:
        self.admin = FakeAdminWork()
        self.worker = FakeSmsWorker()
        self.sender = FakeSenderViews()
        self.published = 0
        self.actions = AdminActions(
            repositories=self.admin,
            transactions=self.admin,
            sms=FakeSmsViews(self.worker.uow),
            sender=self.sender,
            broker=BrokerAccess(BrokerSettings(), name="tests"),
            clock=ManualClock(NOW),
            token_ttl=timedelta(days=90),
            max_body_chars=1_600,
            publish_now=self._publish_now,
        )

    async def _publish_now(self) -> None:
        self.published += 1

    async def boss(self) -> Actor:
        """The first admin, as their token's requests see them."""
        first = await self.actions.bootstrap_first_admin(BOSS_PHONE, token_name=None)
        return Actor(
            kind="token",
            id=first.token_id,
            operator_id=first.operator_id,
            roles=frozenset({Role.ADMIN}),
        )


async def test_bootstrap_makes_an_operator_admin_without_creating_any_sms_user() -> None:
    world = World()
    first = await world.actions.bootstrap_first_admin("+1 (555) 555-0100", token_name="first")
    boss = await world.admin.operators.get(first.operator_id)
    assert boss is not None
    assert (boss.phone, boss.roles) == (BOSS_PHONE, frozenset({Role.ADMIN}))
    token = world.admin.tokens.rows[first.token_id]
    assert token.hash == token_hash(first.token)
    assert (token.operator_id, token.roles, token.name) == (
        boss.id,
        frozenset({Role.ADMIN}),
        "first",
    )
    (entry,) = world.admin.audit.entries
    assert (entry.actor, entry.action, entry.target) == (
        BOOTSTRAP_ACTOR,
        "admin.bootstrap",
        ("operator", boss.id),
    )
    assert world.worker.uow.users.rows == {}
    with pytest.raises(BootstrapClosed):
        await world.actions.bootstrap_first_admin(HELPER_PHONE, token_name=None)


async def test_a_phone_that_never_texted_gets_a_role_and_no_sms_user() -> None:
    world = World()
    granted = await world.actions.grant_role(CLI, HELPER_PHONE, Role.SUPPORT)
    assert granted.roles == ["support"]
    helper = await world.admin.operators.by_phone(HELPER_PHONE)
    assert helper is not None
    assert helper.id == granted.operator_id
    # By operator id too; granting what is held changes nothing but is still recorded.
    again = await world.actions.grant_role(CLI, helper.id, Role.SUPPORT)
    assert again == granted
    assert world.admin.audit.actions() == ["role.grant", "role.grant"]
    assert {e.target for e in world.admin.audit.entries} == {("operator", helper.id)}
    assert world.worker.uow.users.rows == {}


async def test_an_sms_users_id_names_the_operator_of_their_phone() -> None:
    world = World()
    await world.worker.uow.users.add(CAREGIVER)
    granted = await world.actions.grant_role(CLI, CAREGIVER.id, Role.SUPPORT)
    operator_of_phone = await world.admin.operators.by_phone(CAREGIVER.phone)
    assert operator_of_phone is not None
    assert granted == OperatorRoles(operator_id=operator_of_phone.id, roles=[Role.SUPPORT])
    assert operator_of_phone.id != CAREGIVER.id
    with pytest.raises(NotFound):
        await world.actions.grant_role(CLI, "nobody-by-that-id", Role.SUPPORT)


async def test_the_last_admin_keeps_the_role_and_a_role_not_held_cannot_be_revoked() -> None:
    world = World()
    boss = await world.boss()
    with pytest.raises(Conflict, match="no admin"):
        await world.actions.revoke_role(boss, BOSS_PHONE, Role.ADMIN)
    with pytest.raises(Conflict, match="does not hold"):
        await world.actions.revoke_role(boss, BOSS_PHONE, Role.SUPPORT)
    with pytest.raises(Conflict, match="holds no admin role"):
        await world.actions.revoke_role(boss, HELPER_PHONE, Role.SUPPORT)
    await world.actions.grant_role(boss, HELPER_PHONE, Role.ADMIN)
    stepped_down = await world.actions.revoke_role(boss, BOSS_PHONE, Role.ADMIN)
    assert stepped_down.roles == []
    assert world.admin.audit.actions() == ["admin.bootstrap", "role.grant", "role.revoke"]


async def test_a_token_carries_only_roles_its_operator_holds() -> None:
    world = World()
    boss = await world.boss()
    with pytest.raises(Conflict, match="holds no admin role"):
        await world.actions.create_token(boss, HELPER_PHONE, roles=None, ttl_days=None, name=None)
    await world.actions.grant_role(boss, HELPER_PHONE, Role.SUPPORT)
    with pytest.raises(Conflict, match="does not hold: admin"):
        await world.actions.create_token(
            boss, HELPER_PHONE, roles=[Role.ADMIN], ttl_days=None, name=None
        )
    minted = await world.actions.create_token(
        boss, HELPER_PHONE, roles=None, ttl_days=30, name="laptop"
    )
    token = world.admin.tokens.rows[minted.token_id]
    assert (token.roles, token.created_by, token.expires_at) == (
        frozenset({Role.SUPPORT}),
        boss.id,
        NOW + timedelta(days=30),
    )
    assert minted.operator_id == token.operator_id
    # A support token cannot mint tokens.
    support = Actor("token", token.id, token.operator_id, frozenset({Role.SUPPORT}))
    with pytest.raises(Forbidden):
        await world.actions.create_token(
            support, HELPER_PHONE, roles=None, ttl_days=None, name=None
        )


async def test_a_token_is_revoked_once_and_a_refused_write_leaves_no_audit_row() -> None:
    world = World()
    boss = await world.boss()
    revoked = await world.actions.revoke_token(boss, boss.id)
    assert world.admin.tokens.rows[boss.id].revoked_at == revoked.revoked_at == NOW
    with pytest.raises(Conflict, match="already revoked"):
        await world.actions.revoke_token(boss, boss.id)
    with pytest.raises(NotFound):
        await world.actions.revoke_token(boss, "no-such-token")
    assert world.admin.audit.actions() == ["admin.bootstrap", "token.revoke"]


async def test_acknowledging_an_alert_is_a_command_the_sms_worker_applies_once() -> None:
    world = World()
    await world.worker.uow.alerts.record(ALERT)
    boss = await world.boss()
    answer = await world.actions.acknowledge_alert(boss, ALERT.id, note="called back")
    assert boss.operator_id is not None
    assert answer == AcknowledgementRequested(
        alert_id=ALERT.id, acknowledged_by=boss.operator_id, requested_at=NOW
    )
    # The admin changed nothing of the SMS worker's: it queued the command and audited it.
    assert await world.worker.uow.alerts.get(ALERT.id) == ALERT
    (command,) = world.admin.emitted
    assert command.payload == CrisisAlertAcknowledged(
        alert_id=ALERT.id,
        acknowledged_by=str(boss.operator_id),
        note="called back",
        acknowledged_at=NOW,
    )
    assert BOSS_PHONE not in command.model_dump_json()
    assert world.admin.audit.actions()[-1] == "alert.acknowledge"
    assert world.published == 1
    # Asked for twice before the worker applied it: refused, nothing more queued.
    with pytest.raises(Conflict, match="requested already"):
        await world.actions.acknowledge_alert(boss, ALERT.id, note=None)
    assert len(world.admin.emitted) == 1

    await world.worker.deliver_acknowledgement(command)
    alert = await world.worker.uow.alerts.get(ALERT.id)
    assert alert == dataclasses.replace(
        ALERT,
        status="acknowledged",
        acknowledged_at=NOW,
        acknowledged_by=boss.operator_id,
        acknowledgement_note="called back",
    )


async def test_an_acknowledged_or_unknown_alert_is_refused_and_support_may_not_ask() -> None:
    world = World()
    await world.worker.uow.alerts.record(dataclasses.replace(ALERT, status="acknowledged"))
    boss = await world.boss()
    with pytest.raises(Conflict, match="already acknowledged"):
        await world.actions.acknowledge_alert(boss, ALERT.id, note=None)
    with pytest.raises(NotFound):
        await world.actions.acknowledge_alert(boss, "no-such-alert", note=None)
    support = dataclasses.replace(boss, roles=frozenset({Role.SUPPORT}))
    with pytest.raises(Forbidden):
        await world.actions.acknowledge_alert(support, ALERT.id, note=None)
    assert world.admin.emitted == []
    assert world.admin.audit.actions() == ["admin.bootstrap"]


async def test_texting_a_user_is_a_request_to_the_sender_keyed_by_the_request_id() -> None:
    world = World()
    await world.worker.uow.users.add(CAREGIVER)
    boss = await world.boss()
    for _ in range(2):
        answer = await world.actions.send_message(boss, CAREGIVER.phone, "Hi", request_id="r-1")
        assert answer.outbound_key == "admin:caregiver:r-1"
    (request,) = world.admin.emitted
    assert request.payload == SmsOutboundRequested(
        to_number=CAREGIVER.phone, body="Hi", kind="admin", user_id=CAREGIVER.id
    )
    world.sender.opted_out_phones.add(CAREGIVER.phone)
    with pytest.raises(Conflict, match="opted out"):
        await world.actions.send_message(boss, CAREGIVER.id, "Hi", request_id=None)
    with pytest.raises(NotFound):
        await world.actions.send_message(boss, HELPER_PHONE, "Hi", request_id=None)


async def test_billing_requests_are_commands_to_billing_audited_without_the_phone() -> None:
    """The admin has no Stripe key: it asks billing, with the caregiver's user id when their
    phone has texted us, and audits the request under its id."""
    world = World()
    await world.worker.uow.users.add(CAREGIVER)
    boss = await world.boss()
    linked = await world.actions.request_checkout_link(boss, CAREGIVER.phone, plan="annual")
    stranger = await world.actions.request_checkout_link(boss, HELPER_PHONE, plan="monthly")
    reconciled = await world.actions.request_reconcile(boss, since_seconds=3_600)
    assert (linked.kind, linked.status, linked.requested_by) == (
        "checkout_link",
        "requested",
        boss.operator_id,
    )
    assert reconciled.kind == "reconcile"
    first, second, third = world.admin.emitted
    assert first.payload == CheckoutLinkRequested(
        request_id=linked.request_id,
        phone=CAREGIVER.phone,
        plan="annual",
        user_id=CAREGIVER.id,
        requested_by=str(boss.operator_id),
        requested_at=NOW,
    )
    assert isinstance(second.payload, CheckoutLinkRequested)
    assert (second.payload.phone, second.payload.user_id) == (HELPER_PHONE, None)
    assert first.idempotency_key == f"billing-request:{linked.request_id}"
    assert isinstance(third.payload, BillingReconcileRequested)
    assert third.payload.since_seconds == 3_600
    entries = world.admin.audit.entries[1:]
    assert [(e.action, e.target) for e in entries] == [
        ("billing.checkout_link", ("billing_request", linked.request_id)),
        ("billing.checkout_link", ("billing_request", stranger.request_id)),
        ("billing.reconcile", ("billing_request", reconciled.request_id)),
    ]
    assert CAREGIVER.phone not in repr([e.details for e in entries])
    assert world.published == 3

    with pytest.raises(InvalidRequest):
        await world.actions.request_checkout_link(boss, CAREGIVER.id, plan="monthly")
    support = dataclasses.replace(boss, roles=frozenset({Role.SUPPORT}))
    with pytest.raises(Forbidden):
        await world.actions.request_reconcile(support, since_seconds=60)
