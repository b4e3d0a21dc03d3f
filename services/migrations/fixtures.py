"""Realistic legacy data for migration tests and benchmarks, generated, never checked in.

    python -m services.migrations.fixtures --users N [--messages-per-user M] [--odd-fraction F]
                                         [--seed S] [--drop]

Writes into MIGRATIONS_LEGACY_DB (`users`: one hot document of 117 camelCase fields per user, as
the legacy app kept it; `messages` with embedded `attachments`, `toolCalls` and
`partialToolCalls`). A share of the documents is odd the way old production data is: null names,
numbers stored as strings, NaN scores, ISO-string timestamps, unknown zones and phases, missing or
unparseable phone numbers, two users with one phone, malformed arrays. Phone numbers are made
up (555 exchange), bodies are stock sentences: nothing here is anyone's data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect

from services.migrations.split_users import LEGACY_ANALYTICS_FIELDS
from shared.config import ConfigError, MigrationSettings, MongoSettings, load_settings
from shared.mongo import Database, Document, create_client
from shared.mongo.bulk import insert_absent

_BASE_TIME = datetime(2025, 6, 1, tzinfo=UTC)
_AREA_CODES = (201, 212, 303, 312, 404, 415, 503, 512, 602, 617, 702, 713, 804, 917, 971)
_FIRST_NAMES = ("Maria", "James", "Aisha", "Wei", "Carlos", "Fatima", "Linda", "Dmitri", "Grace")
_RELATIONSHIPS = ("mother", "father", "husband", "wife", "son", "daughter", "grandmother", "friend")
_ZIPS = ("10001", "94103", "60601", "73301", "98101", "33101", "02108", "80202", "85001")
_PHASES = ("onboarding", "active", "active", "active", "maintenance", "churned")
_BANDS = ("crisis", "high", "moderate", "mild", "thriving")
_ZONES = (
    "physical_health",
    "emotional_wellbeing",
    "financial_concerns",
    "time_management",
    "social_support",
)
_STATUSES = ("active", "trialing", "past_due", "canceled", "unpaid", "incomplete")
_SENTENCES = (
    "Today was a long day at the hospital.",
    "Mom did not sleep well again.",
    "Thank you, that helps.",
    "I have not had a break in weeks.",
    "Can you remind me about respite options?",
    "We finally got the new medication schedule sorted.",
)
_TOOLS = ("find_resources", "record_checkin", "start_assessment", "update_profile")


@dataclass(frozen=True)
class Generated:
    users: int
    messages: int
    odd_users: int


def _phone(n: int, style: int) -> str:
    area = _AREA_CODES[n % len(_AREA_CODES)]
    line = f"{n // len(_AREA_CODES) % 10_000:04d}"
    exchange = 555 if n < len(_AREA_CODES) * 10_000 else 550 + n // (len(_AREA_CODES) * 10_000)
    return (
        f"+1{area}{exchange}{line}",
        f"({area}) {exchange}-{line}",
        f"{area}-{exchange}-{line}",
        f"{area}{exchange}{line}",
    )[style % 4]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def legacy_user(n: int, rng: random.Random) -> Document:
    """One well-formed legacy user document (117 fields with `_id`)."""
    created = _BASE_TIME + timedelta(minutes=rng.randrange(0, 500_000))
    last_contact = created + timedelta(hours=rng.randrange(1, 4_000))
    phone = _phone(n, rng.randrange(4))
    first = rng.choice(_FIRST_NAMES)
    score = round(rng.uniform(5, 95), 1)
    zones = rng.sample(_ZONES, rng.randrange(0, 3))
    has_stripe = rng.random() < 0.45
    opted_out = rng.random() < 0.04
    document: Document = {
        "_id": f"u{n:08d}",
        "name": f"{first} {chr(65 + n % 26)}.",
        "email": f"caregiver{n}@example.org",
        "phone": phone,
        "phoneNumber": phone,
        "image": None,
        "emailVerificationTime": None,
        "phoneVerificationTime": _ms(created),
        "isAnonymous": False,
        "tokenIdentifier": f"legacy|{n:08d}",
        "roles": ["admin"] if n % 5_000 == 1 else [],
        "isAdmin": n % 5_000 == 1,
        "createdAt": _ms(created),
        "updatedAt": _ms(last_contact),
        "firstName": first,
        "relationship": rng.choice(_RELATIONSHIPS),
        "careRecipientName": rng.choice(_FIRST_NAMES),
        "zipCode": rng.choice(_ZIPS),
        "timezone": None,
        "languagePreference": "en",
        "journeyPhase": rng.choice(_PHASES),
        "burnoutScore": score,
        "burnoutBand": _BANDS[min(4, int(score // 20))],
        "burnoutConfidence": round(rng.uniform(0.3, 1.0), 2),
        "pressureZones": zones,
        "pressureZoneScores": {z: round(rng.uniform(0, 100), 1) for z in zones},
        "lastContactAt": _ms(last_contact),
        "lastProactiveMessageAt": _ms(last_contact + timedelta(days=2)),
        "lastCrisisEventAt": _ms(last_contact) if rng.random() < 0.03 else None,
        "crisisFollowupCount": rng.randrange(0, 8),
        "reactivationMessageCount": rng.randrange(0, 4),
        "onboardingAttempts": rng.randrange(0, 3),
        "onboardingCooldownUntil": None,
        "assessmentInProgress": rng.random() < 0.05,
        "assessmentType": rng.choice(("ema", "bsfc_s")),
        "assessmentCurrentQuestion": rng.randrange(0, 5),
        "assessmentSessionId": f"as{n:08d}",
        "assessmentStartedAt": _ms(last_contact),
        "lastAssessmentCompletedAt": _ms(created + timedelta(days=3)),
        "smsOptOut": opted_out,
        "optedOutAt": _ms(last_contact) if opted_out else None,
        "checkinFrequency": rng.choice(("daily", "weekly", None)),
        "snoozeUntil": None,
        "recentMessages": [
            {
                "role": "user" if i % 2 == 0 else "assistant",
                "content": rng.choice(_SENTENCES),
                "timestamp": _ms(last_contact - timedelta(minutes=10 * (6 - i))),
            }
            for i in range(rng.randrange(0, 7))
        ],
        "historicalSummary": "Caregiver for a parent; prefers evening check-ins.",
        "historicalSummaryVersion": rng.randrange(1, 4),
        "historicalSummaryTokenUsage": rng.randrange(100, 2_000),
        "conversationStartDate": _ms(created),
        "totalInteractionCount": rng.randrange(0, 400),
        "stripeCustomerId": f"cus_legacy{n:08d}" if has_stripe else None,
        "stripeSubscriptionId": f"sub_legacy{n:08d}" if has_stripe else None,
        "subscriptionStatus": rng.choice(_STATUSES) if has_stripe else None,
        "currentPeriodEnd": _ms(datetime.now(UTC) + timedelta(days=rng.randrange(-20, 30)))
        if has_stripe
        else None,
        "cancelAtPeriodEnd": rng.random() < 0.1 if has_stripe else None,
        "canceledAt": None,
        "trialEndsAt": _ms(created + timedelta(days=7)) if has_stripe else None,
        "rcsCapable": rng.random() < 0.3,
        "deviceType": rng.choice(("iphone", "android", "unknown")),
        "consentAt": _ms(created),
        "appState": {"lastScreen": "home"},
    }
    for index, field in enumerate(LEGACY_ANALYTICS_FIELDS):
        document[field] = index if index % 3 else f"value-{index}"
    return document


def make_odd(document: Document, n: int, rng: random.Random, previous_phone: str | None) -> None:
    """Damage `document` the way one old app version or another did (several ways at once)."""
    kinds = rng.sample(range(12), 3)
    for kind in kinds:
        if kind == 0:
            document["firstName"] = None
            document["name"] = None
        elif kind == 1:
            document["burnoutScore"] = str(document["burnoutScore"])
            document["crisisFollowupCount"] = str(document["crisisFollowupCount"])
        elif kind == 2:
            document["burnoutScore"] = math.nan
            document["burnoutConfidence"] = math.nan
        elif kind == 3:
            document["lastContactAt"] = datetime.fromtimestamp(
                document["lastContactAt"] / 1000, UTC
            ).isoformat()
            document["createdAt"] = str(document["createdAt"])
        elif kind == 4:
            document["pressureZones"] = ["Physical Health", "made-up zone", 7]
            document["pressureZoneScores"] = {"emotionalWellbeing": "55", "bogus": 1}
        elif kind == 5:
            document["journeyPhase"] = rng.choice(("Maintenance", "", None, "weird-phase"))
        elif kind == 6:
            document["zipCode"] = int(document["zipCode"])
            document["onboardingAttempts"] = {"firstName": 2, "zipCode": "1"}
        elif kind == 7:
            document["recentMessages"] = [None, "text", {"role": "user", "content": 5}]
        elif kind == 8:
            document["subscriptionStatus"] = "ACTIVE"
            document["stripeCustomerId"] = f"cus_odd{n:08d}"
        elif kind == 9:
            document["phoneNumber"] = None
            document["phone"] = rng.choice((None, "n/a", "12"))
        elif kind == 10 and previous_phone is not None:
            document["phoneNumber"] = previous_phone
            document["phone"] = previous_phone
        elif kind == 11:
            document["burnoutScore"] = "not measured"
            document["burnoutBand"] = "EXTREME"


def legacy_messages(user: Document, count: int, rng: random.Random) -> Iterator[Document]:
    created = user.get("createdAt")
    start = created if isinstance(created, int) else _ms(_BASE_TIME)
    for i in range(count):
        message: Document = {
            "_id": f"{user['_id']}m{i:04d}",
            "userId": user["_id"],
            "conversationId": f"c{user['_id']}",
            "role": "user" if i % 2 == 0 else "assistant",
            "content": rng.choice(_SENTENCES),
            "createdAt": start + i * 3_600_000,
        }
        if rng.random() < 0.15:
            message["attachments"] = [
                {
                    "type": rng.choice(("image", "file", "audio")),
                    "name": f"attachment-{j}.jpg",
                    "storageId": f"kg{rng.getrandbits(64):016x}",
                    "mimeType": "image/jpeg",
                    "size": rng.randrange(1_000, 4_000_000),
                    "metadata": {"width": 640, "height": 480},
                }
                for j in range(rng.randrange(1, 3))
            ]
        if message["role"] == "assistant" and rng.random() < 0.3:
            calls = [
                {
                    "toolCallId": f"call_{rng.getrandbits(48):012x}",
                    "toolName": rng.choice(_TOOLS),
                    "args": json.dumps({"zip": rng.choice(_ZIPS), "limit": 3}),
                    "result": json.dumps({"items": rng.randrange(0, 5)}),
                    "textPosition": rng.randrange(0, 120),
                    "timestamp": start + i * 3_600_000 + 500,
                }
                for _ in range(rng.randrange(1, 4))
            ]
            message["toolCalls"] = calls
            if rng.random() < 0.3:
                # The streaming state left behind: one call also partial, one only partial.
                message["partialToolCalls"] = [
                    {**calls[0], "result": None},
                    {"toolCallId": f"call_{rng.getrandbits(48):012x}", "toolName": "find_resources",
                     "args": "{\"zip\": ", "timestamp": start + i * 3_600_000 + 900},
                ]  # fmt: skip
        elif rng.random() < 0.01:
            message["attachments"] = "corrupted"
        yield message


async def _in_batches(documents: Iterator[Document], size: int) -> AsyncIterator[list[Document]]:
    batch: list[Document] = []
    for document in documents:
        batch.append(document)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def generate(
    db: Database,
    *,
    users: int,
    messages_per_user: float = 3,
    odd_fraction: float = 0.02,
    seed: int = 7,
    first: int = 0,
) -> Generated:
    """Insert `users` legacy users (ids from `first`) and their messages into `db`."""
    rng = random.Random(seed)  # noqa: S311 - test data, reproducible by seed
    odd = 0
    message_count = 0
    pending_messages: list[Document] = []
    previous_phone: str | None = None

    def user_documents() -> Iterator[Document]:
        nonlocal odd, previous_phone, message_count
        for n in range(first, first + users):
            document = legacy_user(n, rng)
            if rng.random() < odd_fraction:
                odd += 1
                make_odd(document, n, rng, previous_phone)
            previous_phone = document.get("phoneNumber") or previous_phone
            count = rng.randrange(0, int(2 * messages_per_user) + 1) if messages_per_user else 0
            generated = list(legacy_messages(document, count, rng))
            message_count += len(generated)
            pending_messages.extend(generated)
            yield document

    async for batch in _in_batches(user_documents(), 1_000):
        await _insert_all(db.users, batch)
        if pending_messages:
            await _insert_all(db.messages, pending_messages)
            pending_messages.clear()
    return Generated(users=users, messages=message_count, odd_users=odd)


_INSERT_ATTEMPTS = 5


async def _insert_all(collection: AsyncCollection[Document], documents: list[Document]) -> None:
    """Insert a batch, trying again when the connection drops mid-batch.

    A busy 2-core machine can stall the server long enough for the driver to drop its pool
    (AutoReconnect); the ids are fixed, so `insert_absent` on a retry skips what already landed."""
    for attempt in range(1, _INSERT_ATTEMPTS + 1):
        try:
            failures = await insert_absent(collection, documents)
        except AutoReconnect:
            if attempt == _INSERT_ATTEMPTS:
                raise
            await asyncio.sleep(0.5 * attempt)
            continue
        if failures:
            raise RuntimeError(f"{len(failures)} generated documents were refused: {failures[:3]}")
        return


async def _main(args: argparse.Namespace) -> int:
    try:
        mongo = load_settings(MongoSettings)
        settings = load_settings(MigrationSettings)
    except ConfigError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    client = create_client(mongo, app_name="migration-fixtures")
    try:
        db = client[settings.legacy_db]
        if args.drop:
            await db.users.drop()
            await db.messages.drop()
        result = await generate(
            db,
            users=args.users,
            messages_per_user=args.messages_per_user,
            odd_fraction=args.odd_fraction,
            seed=args.seed,
            first=args.first,
        )
    finally:
        await client.close()
    sys.stdout.write(
        f"{result.users} legacy users ({result.odd_users} odd) and {result.messages} messages "
        f"written to {settings.legacy_db}\n"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.migrations.fixtures")
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--messages-per-user", type=float, default=3)
    parser.add_argument("--odd-fraction", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--first", type=int, default=0, help="number of the first user id")
    parser.add_argument("--drop", action="store_true", help="empty users and messages first")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
