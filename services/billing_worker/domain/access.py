"""Who has access, and which subscription change wins: the billing rules as pure functions.

Stripe delivers events late, twice and out of order; these rules decide from the subscription's
own data and the event's time alone, with no I/O, so each is unit-tested exhaustively.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

# Stripe is still retrying a failed payment while `past_due`: the caregiver keeps access.
ACCESS_STATUSES = frozenset({"trialing", "active", "past_due"})
NO_ACCESS_STATUSES = frozenset({"unpaid", "incomplete", "incomplete_expired", "paused"})
CANCELED = "canceled"

RefetchPolicy = Literal["off", "uncertain", "always"]


def has_access(status: str | None, current_period_end: datetime | None, now: datetime) -> bool:
    """Access by subscription status; `canceled` keeps it until the paid period ends.

    Unknown statuses (a newer Stripe API) deny access rather than grant it by accident.
    """
    if status in ACCESS_STATUSES:
        return True
    if status == CANCELED:
        return current_period_end is not None and now < current_period_end
    return False


@dataclass(frozen=True)
class SubscriptionState:
    """What billing keeps of a Stripe subscription."""

    subscription_id: str
    customer_id: str | None
    status: str
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    canceled_at: datetime | None = None
    trial_end: datetime | None = None

    def has_access(self, now: datetime) -> bool:
        return has_access(self.status, self.current_period_end, now)


@dataclass(frozen=True)
class AppliedSubscription:
    """The subscription an account follows, and when the change last applied to it happened."""

    subscription_id: str
    applied_at: datetime
    has_access: bool


class Verdict(StrEnum):
    APPLY = "apply"
    # Older than the change already applied to this subscription.
    STALE = "stale"
    # About a subscription the account does not follow, and not a reason to switch to it.
    OTHER_SUBSCRIPTION = "other_subscription"


def subscription_verdict(
    current: AppliedSubscription | None,
    incoming: SubscriptionState,
    observed_at: datetime,
    now: datetime,
) -> Verdict:
    """Whether a subscription change observed at `observed_at` replaces the account's state.

    Same subscription: apply unless older than the last applied change (a tie applies: Stripe
    times are whole seconds, so equal times carry no order). Another subscription: switch to it
    only when it is newer and either grants access (a new paid subscription) or the current one
    has none — a late event about an old subscription never overrides a live one.
    """
    if current is None:
        return Verdict.APPLY
    if observed_at < current.applied_at:
        return (
            Verdict.STALE
            if incoming.subscription_id == current.subscription_id
            else Verdict.OTHER_SUBSCRIPTION
        )
    if incoming.subscription_id == current.subscription_id:
        return Verdict.APPLY
    if incoming.has_access(now) or not current.has_access:
        return Verdict.APPLY
    return Verdict.OTHER_SUBSCRIPTION


def needs_refetch(
    policy: RefetchPolicy,
    *,
    status_known: bool,
    event_created: datetime,
    applied_at: datetime | None,
) -> bool:
    """Whether to ask Stripe for the subscription instead of trusting the event's copy.

    `uncertain`: the event does not carry a status, or it ties in time with the change last
    applied to the same subscription, so the order between the two is unknown.
    """
    if policy == "always":
        return True
    if policy == "off":
        return False
    return not status_known or (applied_at is not None and event_created == applied_at)
