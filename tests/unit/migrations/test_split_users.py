"""001_split_users as a pure function: what one legacy user becomes, odd ones included."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.admin.records import Operator, Role
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
from services.sms_worker.domain.profile import Profile, profile_document
from shared.events.catalog import EVENTS
from shared.migrations import Destination, DocumentRejected, Plan, Target

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DBS = MigrationDatabases(legacy="legacy", sms_worker="sms", billing_worker="billing", admin="admin")


def _migration() -> SplitUsers:
    return SplitUsers(DBS, now=NOW, default_timezone="America/New_York")


def _user(n: int = 1, **changes: Any) -> dict[str, Any]:
    document = legacy_user(n, random.Random(n))
    document.update(changes)
    return document


def _created(plan: Plan, destination: Destination) -> list[Any]:
    """The records the plan hands one destination's repository."""
    return list(plan.writes.get(destination, []))


def _events(plan: Plan, destination: Destination) -> list[Any]:
    """The plan's events for one outbox, through their wire form as the services read it."""
    return [EVENTS.decode(event.to_json()) for event in _created(plan, destination)]


def test_every_legacy_field_is_either_moved_or_retired_never_both() -> None:
    document = _user()
    assert len(document) == 118  # 117 fields and the id
    assert set(MOVED_FIELDS).isdisjoint(RETIRED_FIELDS)
    unmapped = set(document) - set(MOVED_FIELDS) - set(RETIRED_FIELDS) - {"_id"}
    assert unmapped == set()


def test_a_well_formed_user_lands_in_each_collection_keyed_by_its_legacy_id() -> None:
    document = _user(3, subscriptionStatus="active", stripeCustomerId="cus_x", smsOptOut=False)
    migration = _migration()
    plan = migration.plan(document)
    (user,) = _created(plan, migration.users)
    assert user.id == document["_id"]
    assert user.phone.startswith("+1")
    assert len(user.phone) == 12
    assert user.email == "caregiver3@example.org"
    (imported,) = _created(plan, migration.profiles)
    profile = Profile.model_validate(profile_document(imported.profile))
    assert profile.user_id == document["_id"]
    assert profile.first_name == document["firstName"]
    assert profile.burnout_score == document["burnoutScore"]
    assert profile.version == 1
    (conversation,) = _created(plan, migration.conversations)
    assert conversation.user_id == document["_id"]
    assert conversation.interactions == document["totalInteractionCount"]
    assert len(conversation.entries) == len(document["recentMessages"])
    (account,) = _created(plan, migration.accounts)
    assert account.phone == user.phone
    assert account.has_access is True
    assert account.customer_id == "cus_x"
    assert account.welcomed_at is not None
    assert account.access_announced is True
    (link,) = _created(plan, migration.customers)
    assert link.phone == user.phone
    (profile_event,) = _events(plan, migration.sms_outbox)
    assert profile_event.type == "user.profile.changed"
    assert profile_event.payload.version == 1
    (access_event,) = _events(plan, migration.billing_outbox)
    assert access_event.payload.has_access is True
    # The legacy document is marked last, and only while unmarked.
    assert migration.targets()[-1] == migration.source_mark
    (mark,) = plan.writes[Target("legacy", "users")]
    assert mark._filter == {"_id": document["_id"], SOURCE_MARK: {"$exists": False}}


def test_services_data_is_written_only_through_their_repositories() -> None:
    """Every destination but the legacy source is a repository's bulk method, not a name."""
    migration = _migration()
    plan = migration.plan(_user(3, subscriptionStatus="active", stripeCustomerId="cus_x"))
    targets = [d for d in plan.writes if isinstance(d, Target)]
    assert targets == [Target("legacy", "users")]


def test_the_plan_is_deterministic_so_a_replayed_batch_writes_the_same_ids() -> None:
    document = _user(9, smsOptOut=True, optedOutAt=1_750_000_000_000)
    first, second = _migration().plan(document), _migration().plan(document)
    assert [[repr(w) for w in ws] for ws in first.writes.values()] == [
        [repr(w) for w in ws] for ws in second.writes.values()
    ]


def test_an_opted_out_user_stays_opted_out_everywhere() -> None:
    migration = _migration()
    plan = migration.plan(_user(5, smsOptOut=True, optedOutAt=1_750_000_000_000))
    (imported,) = _created(plan, migration.profiles)
    assert imported.profile.sms_opt_out is True
    events = {event.type: event.payload for event in _events(plan, migration.sms_outbox)}
    assert events["sms.optout.changed"].opted_out is True
    assert events["sms.optout.changed"].source == "migration"
    assert events["user.profile.changed"].sms_opt_out is True


def test_legacy_roles_land_on_an_operator_in_the_admins_database_not_on_the_sms_user() -> None:
    document = _user(4, roles=["Support", "owner"], isAdmin="true")
    migration = _migration()
    plan = migration.plan(document)
    (user,) = _created(plan, migration.users)
    assert not hasattr(user, "roles")
    # Handed to the admin's operators repository (`import_many`), in the admin's database.
    assert migration.operators.database == "admin"
    assert _created(plan, migration.operators) == [
        Operator(
            id=document["_id"],
            phone=user.phone,
            roles=frozenset({Role.ADMIN, Role.SUPPORT}),
            created_at=user.created_at,
            updated_at=NOW,
        )
    ]


def test_a_caregiver_without_roles_becomes_no_operator() -> None:
    migration = _migration()
    plan = migration.plan(_user(2, roles=["owner"], isAdmin=False))
    assert migration.operators not in plan.writes


def test_no_billing_data_means_no_billing_account() -> None:
    migration = _migration()
    plan = migration.plan(_user(2, stripeCustomerId=None, subscriptionStatus=None))
    assert migration.accounts not in plan.writes
    assert migration.billing_outbox not in plan.writes


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
    migration = _migration()
    plan = migration.plan(_user(7, phoneNumber=None, phone="(415) 555-0107"))
    assert _created(plan, migration.users)[0].phone == "+14155550107"


def test_odd_recent_messages_are_skipped_not_fatal() -> None:
    migration = _migration()
    plan = migration.plan(_user(8, recentMessages=[None, "x", {"role": "user", "content": "hi"}]))
    (conversation,) = _created(plan, migration.conversations)
    assert [entry.body for entry in conversation.entries] == ["hi"]


def test_uppercase_status_is_normalised_and_grants_access() -> None:
    migration = _migration()
    plan = migration.plan(_user(10, subscriptionStatus="ACTIVE", stripeCustomerId="cus_y"))
    assert _created(plan, migration.accounts)[0].status == "active"


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=2**32))
def test_any_damaged_user_is_migrated_or_rejected_never_an_unexpected_error(
    n: int, seed: int
) -> None:
    rng = random.Random(seed)
    document = legacy_user(n, rng)
    make_odd(document, n, rng, previous_phone="+14155550100")
    migration = _migration()
    try:
        plan = migration.plan(document)
    except DocumentRejected:
        return
    (imported,) = _created(plan, migration.profiles)
    Profile.model_validate(profile_document(imported.profile))
    json.dumps([dataclasses.asdict(user) for user in _created(plan, migration.users)], default=str)


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
    assert write._doc == {"$unset": {"firstName": "", "burnoutScore": ""}}
    assert cleanup.plan({"_id": "u2", "utmSource": "x"}).writes == {}
    assert cleanup.source_query() == {SOURCE_MARK: {"$exists": True}}
    assert cleanup.requires_verified == (split_users.ID,)
