"""The envelope every event travels in, whatever its payload.

Ids are UUIDv7 (time-ordered) unless the event has an idempotency key, in which case the id is
derived from it: re-running a handler re-creates the *same* follow-up event, and the outbox and
inboxes downstream see a duplicate instead of a new event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from uuid_utils import compat as uuid_compat

# Fixed namespace for deterministic event ids; changing it would break deduplication.
_EVENT_ID_NAMESPACE = uuid.UUID("3f0c4a52-9d1e-4f55-8a8e-6b1f0d6c2a11")
EVENT_TYPE_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_*#-]+)+$"


class Payload(BaseModel):
    """Base of every event payload: immutable, tolerant of fields added by newer producers."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # The routing key this payload travels under; may be a topic pattern (`billing.stripe.*`)
    # when one model serves a family of types.
    EVENT_TYPE: ClassVar[str]
    EVENT_VERSION: ClassVar[int] = 1


P = TypeVar("P")


class Envelope(BaseModel, Generic[P]):
    """Metadata common to all events around a typed payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID
    type: str = Field(pattern=EVENT_TYPE_PATTERN, max_length=255)
    version: int = Field(1, ge=1)
    occurred_at: AwareDatetime
    correlation_id: str = Field(min_length=1, max_length=255)
    causation_id: str | None = Field(None, max_length=255)
    idempotency_key: str = Field(min_length=1, max_length=512)
    payload: P

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def deterministic_event_id(event_type: str, idempotency_key: str) -> uuid.UUID:
    """The id an event with this type and idempotency key always gets."""
    return uuid.uuid5(_EVENT_ID_NAMESPACE, f"{event_type}\x00{idempotency_key}")


PayloadT = TypeVar("PayloadT", bound=Payload)


def new_event(
    payload: PayloadT,
    *,
    event_type: str | None = None,
    idempotency_key: str | None = None,
    caused_by: Envelope[Any] | None = None,
    correlation_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope[PayloadT]:
    """Wrap `payload` in an envelope.

    `event_type` is needed only when the payload's `EVENT_TYPE` is a pattern. `caused_by` chains
    correlation (kept) and causation (the parent's id). Without an idempotency key the event is
    unique (UUIDv7) and its id doubles as the key.
    """
    resolved_type = event_type or payload.EVENT_TYPE
    if "*" in resolved_type or "#" in resolved_type:
        raise ValueError(f"{type(payload).__name__} needs a concrete event_type")
    if idempotency_key is not None:
        event_id = deterministic_event_id(resolved_type, idempotency_key)
    else:
        event_id = uuid_compat.uuid7()
        idempotency_key = str(event_id)
    if correlation_id is None:
        correlation_id = caused_by.correlation_id if caused_by is not None else str(event_id)
    return Envelope[PayloadT](
        id=event_id,
        type=resolved_type,
        version=payload.EVENT_VERSION,
        occurred_at=occurred_at or datetime.now(UTC),
        correlation_id=correlation_id,
        causation_id=str(caused_by.id) if caused_by is not None else None,
        idempotency_key=idempotency_key,
        payload=payload,
    )
