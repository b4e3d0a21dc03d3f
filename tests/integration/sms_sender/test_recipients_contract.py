"""The recipients repository's contract, on the fake and on the real server alike: opt-outs
applied only when newer than the one held, and the send slot — refused to an opted-out number
(but for compliance confirmations) and at a reached cap (but for exempt sends, which still
count), every taken slot logged, newest first, as many as the largest cap."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.sms_sender.records import NEVER_CHANGED, CapPolicy, Gate, OptOut, Recipient
from services.sms_sender.unit_of_work import SenderWork
from tests.integration.sms_sender.conftest import RecipientBook, SenderRepositories

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PHONE = "+15551230001"
CAPS = (CapPolicy(2, timedelta(hours=1)), CapPolicy(3, timedelta(days=1)))


async def slot(
    recipients: RecipientBook,
    at: datetime,
    *,
    compliance: bool = False,
    capped: bool = True,
    phone: str = PHONE,
) -> Gate:
    return await recipients.take_send_slot(phone, at, CAPS, compliance=compliance, capped=capped)


async def test_an_opt_out_change_applies_only_when_newer_than_the_one_held(
    repositories: SenderRepositories,
) -> None:
    recipients = repositories.recipients
    assert await recipients.get(PHONE) is None
    assert not await recipients.opted_out(PHONE)

    assert await recipients.apply_opt_out(OptOut(PHONE, True, NOW, "keyword"))
    assert not await recipients.apply_opt_out(OptOut(PHONE, False, NOW, "admin"))
    assert not await recipients.apply_opt_out(
        OptOut(PHONE, False, NOW - timedelta(seconds=1), "admin")
    )

    assert await recipients.get(PHONE) == Recipient(PHONE, True, NOW, "keyword", ())
    assert await recipients.opted_out(PHONE)
    later = NOW + timedelta(seconds=1)
    assert await recipients.apply_opt_out(OptOut(PHONE, False, later, "keyword"))
    assert not await recipients.opted_out(PHONE)


async def test_an_opted_out_number_gets_a_slot_only_for_a_compliance_confirmation(
    repositories: SenderRepositories,
) -> None:
    recipients = repositories.recipients
    await recipients.apply_opt_out(OptOut(PHONE, True, NOW, "carrier"))

    assert await slot(recipients, NOW) is Gate.OPTED_OUT
    assert await slot(recipients, NOW, capped=False) is Gate.OPTED_OUT
    assert await slot(recipients, NOW, compliance=True, capped=False) is Gate.OPEN

    recipient = await recipients.get(PHONE)
    assert recipient is not None
    assert recipient.send_times == (NOW,)  # only the slot taken is logged


async def test_each_cap_holds_within_its_window_and_exempt_sends_still_count(
    repositories: SenderRepositories,
) -> None:
    recipients = repositories.recipients
    times = [NOW + timedelta(minutes=n) for n in range(4)]

    assert await slot(recipients, times[0]) is Gate.OPEN  # a number never texted before
    assert await slot(recipients, times[1], capped=False) is Gate.OPEN  # exempt, but counted
    assert await slot(recipients, times[2]) is Gate.SEND_CAP  # two within the hour
    assert await slot(recipients, times[2], capped=False) is Gate.OPEN

    recipient = await recipients.get(PHONE)
    assert recipient is not None
    assert recipient.send_times == (times[2], times[1], times[0])  # newest first, three kept
    assert not recipient.opted_out

    # An hour on, the burst cap has room again, but three in a day is the daily cap.
    assert await slot(recipients, times[2] + timedelta(hours=1)) is Gate.SEND_CAP
    next_day = times[0] + timedelta(days=1, seconds=1)
    assert await slot(recipients, next_day) is Gate.OPEN
    recipient = await recipients.get(PHONE)
    assert recipient is not None
    assert recipient.send_times == (next_day, times[2], times[1])


async def test_a_first_send_to_a_new_number_creates_its_row_with_the_slot_logged(
    repositories: SenderRepositories,
) -> None:
    recipients = repositories.recipients
    assert await slot(recipients, NOW) is Gate.OPEN
    assert await slot(recipients, NOW, compliance=True, phone="+15557770001") is Gate.OPEN

    assert await recipients.get(PHONE) == Recipient(PHONE, False, NEVER_CHANGED, None, (NOW,))
    assert await recipients.get("+15557770001") == Recipient(
        "+15557770001", False, NEVER_CHANGED, None, (NOW,)
    )


async def test_first_sends_to_a_new_number_at_once_all_get_their_slot(
    repositories: SenderRepositories,
) -> None:
    recipients = repositories.recipients
    gates = await asyncio.gather(
        *(slot(recipients, NOW, capped=False, phone="+15557770000") for _ in range(4))
    )
    assert gates == [Gate.OPEN] * 4


async def test_an_opt_out_in_a_unit_of_work_that_fails_is_gone(
    repositories: SenderRepositories,
) -> None:
    async def opt_out_then_fail(uow: SenderWork) -> None:
        await uow.recipients.apply_opt_out(OptOut(PHONE, True, NOW, "carrier"))
        raise RuntimeError("the transaction did not commit")

    with pytest.raises(RuntimeError):
        await repositories.run(opt_out_then_fail)
    assert not await repositories.recipients.opted_out(PHONE)
    assert await repositories.recipients.get(PHONE) is None
