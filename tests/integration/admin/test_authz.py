"""Who may call what, over real HTTP: every `/admin` route declares a role, refuses anonymous
callers (401) and support tokens on every write (403); expired, revoked and role-less tokens are
refused; failed attempts are counted per client, throttled (429) and logged without the token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from services.admin.api import BOOTSTRAP, ROLE_EXTENSION
from services.admin.auth import Role, token_id_of
from tests.integration.admin.conftest import (
    ADMIN_PHONE,
    BOOTSTRAP_TOKEN,
    FAILED_AUTH_LIMIT,
    FAILED_AUTH_WINDOW_SECONDS,
    SUPPORT_PHONE,
    AdminHarness,
    auth,
)

pytestmark = pytest.mark.integration

# A value for every path parameter an admin route has (writes with an admin token then touch a
# third user, not the tokens' owners).
_PATH_VALUES = {
    "user_ref": "+15555550199",
    "role": "support",
    "token_id": "0123456789ab",
    "queue": "scheduler.events",
    "key": "reply:no-such-send",
    "alert_id": "no-such-alert",
    "request_id": "no-such-request",
}
_WRITES = frozenset({"post", "put", "patch", "delete"})


def _operations(admin: AdminHarness) -> list[tuple[str, str, str]]:
    """(method, url, declared role) of every `/admin` operation the app serves."""
    operations = []
    for path, methods in admin.app.openapi()["paths"].items():
        if not path.startswith("/admin/"):
            continue
        url = path.removeprefix("/admin").format(**_PATH_VALUES)
        for method, operation in methods.items():
            operations.append((method, url, operation[ROLE_EXTENSION]))
    return operations


async def _call(admin: AdminHarness, method: str, url: str, token: str | None) -> Any:
    headers = auth(token) if token is not None else {}
    body: dict[str, Any] | None = {} if method in _WRITES and method != "delete" else None
    return await admin.http.request(method.upper(), url, headers=headers, json=body)


async def test_every_route_declares_its_role_and_refuses_anonymous_and_support_writes(
    admin: AdminHarness,
) -> None:
    operations = _operations(admin)
    assert len(operations) >= 15
    support = await admin.token(SUPPORT_PHONE, Role.SUPPORT)
    boss = await admin.token(ADMIN_PHONE, Role.ADMIN)
    for method, url, role in operations:
        if method in _WRITES:
            assert role in (Role.ADMIN.value, BOOTSTRAP), (method, url)
        anonymous = await _call(admin, method, url, None)
        assert anonymous.status_code == 401, (method, url, anonymous.text)
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.json()["error"] == "not_authenticated"

        as_support = await _call(admin, method, url, support)
        if role != Role.SUPPORT.value:
            assert as_support.status_code == 403, (method, url, as_support.text)
            assert as_support.json()["error"] == "forbidden"
        else:
            assert as_support.status_code not in (401, 403), (method, url, as_support.text)
        if role != BOOTSTRAP:
            as_admin = await _call(admin, method, url, boss)
            assert as_admin.status_code not in (401, 403), (method, url, as_admin.text)
    # Nothing above was a failed attempt with a token: the valid tokens still work.
    assert (await admin.http.get("/me", headers=auth(support))).status_code == 200


async def test_revoked_expired_and_roleless_tokens_are_refused(admin: AdminHarness) -> None:
    boss = await admin.token(ADMIN_PHONE, Role.ADMIN)
    support = await admin.token(SUPPORT_PHONE, Role.SUPPORT)
    me = await admin.http.get("/me", headers=auth(support))
    assert me.status_code == 200
    assert me.json()["roles"] == ["support"]

    support_id = token_id_of(support)
    revoked = await admin.http.post(f"/tokens/{support_id}/revoke", headers=auth(boss))
    assert revoked.status_code == 200, revoked.text
    assert (await admin.http.get("/me", headers=auth(support))).status_code == 401
    again = await admin.http.post(f"/tokens/{support_id}/revoke", headers=auth(boss))
    assert again.status_code == 409

    created = await admin.http.post(
        "/tokens", headers=auth(boss), json={"user": SUPPORT_PHONE, "ttl_days": 1}
    )
    assert created.status_code == 201, created.text
    short_lived = created.json()["token"]
    assert (await admin.http.get("/metrics", headers=auth(short_lived))).status_code == 200
    admin.clock.advance(timedelta(days=1, seconds=1))
    assert (await admin.http.get("/me", headers=auth(short_lived))).status_code == 401

    # A role taken from the user takes effect on their next request, whatever the token says.
    fresh = await admin.token(SUPPORT_PHONE)
    assert (await admin.http.get("/metrics", headers=auth(fresh))).status_code == 200
    revoke_role = await admin.http.delete(
        f"/users/{SUPPORT_PHONE}/roles/support", headers=auth(boss)
    )
    assert revoke_role.status_code == 200, revoke_role.text
    assert revoke_role.json()["roles"] == []
    assert (await admin.http.get("/metrics", headers=auth(fresh))).status_code == 403

    # A token may not claim a role its owner does not hold.
    too_much = await admin.http.post(
        "/tokens", headers=auth(boss), json={"user": SUPPORT_PHONE, "roles": ["admin"]}
    )
    assert too_much.status_code == 409
    # The bootstrap token is no API token.
    assert (await admin.http.get("/me", headers=auth(BOOTSTRAP_TOKEN))).status_code == 401


async def test_failed_attempts_are_throttled_per_client_and_logged_without_the_token(
    admin: AdminHarness,
) -> None:
    good = await admin.token(ADMIN_PHONE, Role.ADMIN)
    wrong = good[:-6] + "AAAAAA"
    with capture_logs() as logs:
        for _ in range(FAILED_AUTH_LIMIT):
            refused = await admin.http.get("/me", headers=auth(wrong))
            assert refused.status_code == 401
        throttled = await admin.http.get("/me", headers=auth(good))
        bootstrap = await admin.http.post(
            "/bootstrap", headers=auth(BOOTSTRAP_TOKEN), json={"phone": ADMIN_PHONE}
        )
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["retry-after"]) <= FAILED_AUTH_WINDOW_SECONDS
    assert bootstrap.status_code == 429
    failures = [entry for entry in logs if entry["event"] == "admin authentication failed"]
    assert len(failures) == FAILED_AUTH_LIMIT
    assert {entry["reason"] for entry in failures} == {"unknown token"}
    assert all(entry["client"] == "127.0.0.1" for entry in failures)
    secret = good.split("_", 2)[2]
    assert not [entry for entry in logs if secret[:12] in repr(entry) or "AAAAAA" in repr(entry)]

    admin.clock.advance(timedelta(seconds=FAILED_AUTH_WINDOW_SECONDS))
    assert (await admin.http.get("/me", headers=auth(good))).status_code == 200


async def test_only_a_bearer_header_carries_a_token_and_a_malformed_one_is_no_attempt(
    admin: AdminHarness,
) -> None:
    """The `ApiToken` scheme reads `Authorization: Bearer <token>` (any case, any spacing);
    anything else is no credentials at all: 401, and not a failed attempt."""
    good = await admin.token(ADMIN_PHONE, Role.ADMIN)
    spaced = await admin.http.get("/me", headers={"authorization": f"bearer   {good}"})
    assert spaced.status_code == 200, spaced.text
    for header in (f"Basic {good}", "Bearer", good):
        for _ in range(FAILED_AUTH_LIMIT):
            refused = await admin.http.get("/me", headers={"authorization": header})
            assert refused.status_code == 401
            assert refused.json()["error"] == "not_authenticated"
    assert (await admin.http.get("/me", headers=auth(good))).status_code == 200
