"""`user_profiles`: the fake and the server agree — created once, written only at the version
read, opt-outs newest-wins, every field read back as it was written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.sms_worker.domain.assessments import AssessmentSession, Band
from services.sms_worker.domain.instruments import Zone
from services.sms_worker.domain.onboarding import Field, OnboardingState
from services.sms_worker.domain.profile import Profile
from services.sms_worker.unit_of_work import SmsWork
from tests.integration.sms_worker.conftest import SmsWorkIn

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
NEW = Profile(user_id="u1", timezone="America/New_York", last_contact_at=AT)


async def test_a_profile_is_created_once_at_version_one(sms_work_in: SmsWorkIn) -> None:
    assert await sms_work_in(lambda uow: uow.profiles.get("u1")) is None
    assert await sms_work_in(lambda uow: uow.profiles.create(NEW, AT)) is True
    other = NEW.model_copy(update={"first_name": "Bo"})
    assert await sms_work_in(lambda uow: uow.profiles.create(other, AT)) is False
    assert await sms_work_in(lambda uow: uow.profiles.get("u1")) == NEW.model_copy(
        update={"version": 1}
    )


async def test_an_update_applies_only_at_the_version_read(sms_work_in: SmsWorkIn) -> None:
    await sms_work_in(lambda uow: uow.profiles.create(NEW, AT))
    before = await sms_work_in(lambda uow: uow.profiles.get("u1"))
    assert before is not None
    after = before.model_copy(
        update={
            "first_name": "Ana",
            "journey_phase": "active",
            "burnout_band": Band.HIGH,
            "pressure_zones": (Zone.EMOTIONAL_WELLBEING,),
            "zone_scores": {"emotional_wellbeing": 30.0},
            "onboarding": OnboardingState(field=Field.ZIP_CODE, asked=True),
            "assessment": AssessmentSession(
                instrument="ema", session_id="s1", started_at=AT, answers=(1, None)
            ),
            "assessments_completed_at": {"bsfc_s": AT},
        }
    )
    assert await sms_work_in(lambda uow: uow.profiles.update(before, after, AT)) is True
    stored = await sms_work_in(lambda uow: uow.profiles.get("u1"))
    assert stored == after.model_copy(update={"version": 2})
    # A plan made on version 1 is stale now.
    stale = before.model_copy(update={"first_name": "Bo"})
    assert await sms_work_in(lambda uow: uow.profiles.update(before, stale, AT)) is False
    assert await sms_work_in(lambda uow: uow.profiles.get("u1")) == stored


async def test_an_update_without_changes_still_moves_the_version(sms_work_in: SmsWorkIn) -> None:
    await sms_work_in(lambda uow: uow.profiles.create(NEW, AT))
    v1 = NEW.model_copy(update={"version": 1})
    assert await sms_work_in(lambda uow: uow.profiles.update(v1, v1, AT)) is True
    stored = await sms_work_in(lambda uow: uow.profiles.get("u1"))
    assert stored is not None
    assert stored.version == 2


async def test_opt_out_changes_apply_newest_first(sms_work_in: SmsWorkIn) -> None:
    later = AT + timedelta(days=1)
    assert (
        await sms_work_in(
            lambda uow: uow.profiles.set_opt_out("u1", opted_out=True, changed_at=AT, now=AT)
        )
        is False
    )  # no such profile
    await sms_work_in(lambda uow: uow.profiles.create(NEW, AT))
    applied = await sms_work_in(
        lambda uow: uow.profiles.set_opt_out("u1", opted_out=True, changed_at=later, now=later)
    )
    assert applied is True
    for older in (later, AT):

        async def opt_in(uow: SmsWork, at: datetime = older) -> bool:
            return await uow.profiles.set_opt_out("u1", opted_out=False, changed_at=at, now=later)

        assert await sms_work_in(opt_in) is False
    stored = await sms_work_in(lambda uow: uow.profiles.get("u1"))
    assert stored is not None
    assert (stored.sms_opt_out, stored.opted_out_at, stored.opt_out_changed_at, stored.version) == (
        True,
        later,
        later,
        2,
    )
