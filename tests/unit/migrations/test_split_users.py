"""001_split_users as a pure function: what one legacy user becomes, odd ones included."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.admin.records import Operator, Role
from services.admin.store import MongoOperators
from services.migrations import split_users
from services.migrations.fixtures import legacy_user, make_odd
from services.migrations.split_users import (
    MOVED_FIELDS,
    RETIRED_FIELDS,
    SOURCE_MARK,
    SplitUsers,
    legacy_profile,
)
from services.migrations.targets import MigrationDatabases
from services.sms_worker.domain.profile import Profile
from shared.events.catalog import EVENTS
from shared.migrations import DocumentRejected, Plan, Target

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DBS = MigrationDatabases(legacy="legacy", sms_worker="sms", billing_worker="billing", admin="admin")


def _migration() -> SplitUsers:
    return SplitUsers(DBS, now=NOW, default_timezone="America/New_York")


def _user(n: int = 1, **changes: Any) -> dict[str, Any]:
    document = legacy_user(n, random.Random(n))
    document.update(changes)
    return document


def _created(plan: Plan, database: str, collection: str) -> list[dict[str, Any]]:
    """The documents the plan creates in one collection (its writes are inserts)."""
    return [dict(w._doc) for w in plan.writes.get(Target(database, collection), [])]  # type: ignore[union-attr,arg-type]


def _events(plan: Plan, database: str) -> list[Any]:
    return [EVENTS.decode(row["body"]) for row in _created(plan, database, "outbox")]


def test_every_legacy_field_is_either_moved_or_retired_never_both() -> None:
    document = _user()
    assert len(document) == 118  # 117 fields and the id
    assert set(MOVED_FIELDS).isdisjoint(RETIRED_FIELDS)
    unmapped = set(document) - set(MOVED_FIELDS) - set(RETIRED_FIELDS) - {"_id"}
    assert unmapped == set()


def test_a_well_formed_user_lands_in_each_collection_keyed_by_its_legacy_id() -> None:
    document = _user(3, subscriptionStatus="active", stripeCustomerId="cus_x", smsOptOut=False)
    plan = _migration().plan(document)
    (user,) = _created(plan, "sms", "users")
    assert user["phone"].startswith("+1")
    assert len(user["phone"]) == 12
    assert user["email"] == "caregiver3@example.org"
    (profile_doc,) = _created(plan, "sms", "user_profiles")
    profile = Profile.model_validate(profile_doc)
    assert profile.user_id == document["_id"]
    assert profile.first_name == document["firstName"]
    assert profile.burnout_score == document["burnoutScore"]
    assert profile.version == 1
    (conversation,) = _created(plan, "sms", "conversation_state")
    assert conversation["total_interaction_count"] == document["totalInteractionCount"]
    assert len(conversation["recent_messages"]) == len(document["recentMessages"])
    (account,) = _created(plan, "billing", "billing_accounts")
    assert account["has_access"] is True
    assert account["stripe_customer_id"] == "cus_x"
    assert account["welcomed_at"] is not None
    assert account["access_announced"] is True
    (link,) = _created(plan, "billing", "billing_customers")
    assert link["phone"] == user["phone"]
    (profile_event,) = _events(plan, "sms")
    assert profile_event.type == "user.profile.changed"
    assert profile_event.payload.version == 1
    (access_event,) = _events(plan, "billing")
    assert access_event.payload.has_access is True
    # The legacy document is marked last, and only while unmarked.
    mark = plan.writes[Target("legacy", "users")][0]
    assert mark._filter == {"_id": document["_id"], SOURCE_MARK: {"$exists": False}}  # type: ignore[union-attr]


def test_the_plan_is_deterministic_so_a_replayed_batch_writes_the_same_ids() -> None:
    document = _user(9, smsOptOut=True, optedOutAt=1_750_000_000_000)
    first, second = _migration().plan(document), _migration().plan(document)
    assert [[repr(w) for w in ws] for ws in first.writes.values()] == [
        [repr(w) for w in ws] for ws in second.writes.values()
    ]


def test_an_opted_out_user_stays_opted_out_everywhere() -> None:
    plan = _migration().plan(_user(5, smsOptOut=True, optedOutAt=1_750_000_000_000))
    (profile_doc,) = _created(plan, "sms", "user_profiles")
    assert profile_doc["sms_opt_out"] is True
    events = {event.type: event.payload for event in _events(plan, "sms")}
    assert events["sms.optout.changed"].opted_out is True
    assert events["sms.optout.changed"].source == "migration"
    assert events["user.profile.changed"].sms_opt_out is True


def test_legacy_roles_land_on_an_operator_in_the_admins_database_not_on_the_sms_user() -> None:
    document = _user(4, roles=["Support", "owner"], isAdmin="true")
    plan = _migration().plan(document)
    (user,) = _created(plan, "sms", "users")
    assert "roles" not in user
    (write,) = plan.writes[Target("admin", "operators")]
    # The admin's operators repository wrote it: created unless the phone has an operator.
    assert repr(write) == repr(
        MongoOperators.import_write(
            Operator(
                id=document["_id"],
                phone=user["phone"],
                roles=frozenset({Role.ADMIN, Role.SUPPORT}),
                created_at=user["created_at"],
                updated_at=NOW,
            ),
            {split_users.MARK: split_users.MARK_VALUE, "migrated_at": NOW},
        )
    )


def test_a_caregiver_without_roles_becomes_no_operator() -> None:
    plan = _migration().plan(_user(2, roles=["owner"], isAdmin=False))
    assert Target("admin", "operators") not in plan.writes


def test_no_billing_data_means_no_billing_account() -> None:
    plan = _migration().plan(_user(2, stripeCustomerId=None, subscriptionStatus=None))
    assert Target("billing", "billing_accounts") not in plan.writes
    assert Target("billing", "outbox") not in plan.writes


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"firstName": None, "name": None, "journeyPhase": None, "zipCode": None},
         lambda p: p.first_name is None and p.journey_phase == "onboarding"),
        ({"burnoutScore": math.nan, "burnoutBand": "high"},
         lambda p: p.burnout_score is None and p.burnout_band is None),
        ({"burnoutScore": "42.5", "burnoutBand": "EXTREME"},
         lambda p: p.burnout_score == 42.5 and p.burnout_band == "moderate"),
        ({"crisisFollowupCount": "12", "reactivationMessageCount": -1},
         lambda p: p.crisis_followup_count == 7 and p.reactivation_message_count == 0),
        ({"zipCode": 2108, "timezone": None},
         lambda p: p.zip_code == "02108" and p.timezone == "America/New_York"),
        ({"zipCode": "98101", "timezone": None}, lambda p: p.timezone == "America/Los_Angeles"),
        ({"pressureZones": ["Physical Health", "made-up", 7, "socialSupport"]},
         lambda p: [z.value for z in p.pressure_zones] == ["physical_health", "social_support"]),
        ({"journeyPhase": "Maintenance"}, lambda p: p.journey_phase == "active"),
        ({"onboardingAttempts": {"firstName": 2, "zipCode": "1"}},
         lambda p: p.onboarding.attempts == 2),
        ({"lastContactAt": "2025-06-15T15:06:40Z"},
         lambda p: p.last_contact_at == datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_odd_fields_get_defaults_instead_of_failing(changes: dict[str, Any], check: Any) -> None:
    assert check(legacy_profile(_user(4, **changes), "u4", default_timezone="America/New_York"))


@pytest.mark.parametrize(
    "phones", [{"phoneNumber": None, "phone": None}, {"phoneNumber": "n/a", "phone": "12"}]
)
def test_a_user_without_a_usable_phone_is_rejected_with_a_reason(phones: dict[str, Any]) -> None:
    with pytest.raises(DocumentRejected, match="no usable phone"):
        _migration().plan(_user(6, **phones))


def test_a_phone_only_in_the_old_field_and_in_local_format_is_normalised() -> None:
    plan = _migration().plan(_user(7, phoneNumber=None, phone="(415) 555-0107"))
    assert _created(plan, "sms", "users")[0]["phone"] == "+14155550107"


def test_odd_recent_messages_are_skipped_not_fatal() -> None:
    plan = _migration().plan(
        _user(8, recentMessages=[None, "x", {"role": "user", "content": "hi"}])
    )
    (conversation,) = _created(plan, "sms", "conversation_state")
    assert [m["body"] for m in conversation["recent_messages"]] == ["hi"]


def test_uppercase_status_is_normalised_and_grants_access() -> None:
    plan = _migration().plan(_user(10, subscriptionStatus="ACTIVE", stripeCustomerId="cus_y"))
    assert _created(plan, "billing", "billing_accounts")[0]["status"] == "active"


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=2**32))
def test_any_damaged_user_is_migrated_or_rejected_never_an_unexpected_error(
    n: int, seed: int
) -> None:
    rng = random.Random(seed)
    document = legacy_user(n, rng)
    make_odd(document, n, rng, previous_phone="+14155550100")
    try:
        plan = _migration().plan(document)
    except DocumentRejected:
        return
    (profile_doc,) = _created(plan, "sms", "user_profiles")
    Profile.model_validate(profile_doc)
    json.dumps(_created(plan, "sms", "users"), default=str)


def test_cleanup_unsets_only_moved_fields_that_are_present() -> None:
    cleanup = split_users.cleanup(DBS)
    document = {
        "_id": "u1",
        "firstName": "A",
        "burnoutScore": 3,
        "utmSource": "x",
        SOURCE_MARK: NOW,
    }
    (write,) = cleanup.plan(document).writes[Target("legacy", "users")]
    assert write._doc == {"$unset": {"firstName": "", "burnoutScore": ""}}  # type: ignore[union-attr]
    assert cleanup.plan({"_id": "u2", "utmSource": "x"}).writes == {}
    assert cleanup.source_query() == {SOURCE_MARK: {"$exists": True}}
    assert cleanup.requires_verified == (split_users.ID,)
