"""The bootstrap flow end to end: only the bootstrap token may create the first admin (an operator
in the admin's own database; the SMS worker's data is untouched), it does so once (however many
race), the token it mints works and is stored only as a hash, and from then on the bootstrap
token is refused."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from services.admin.auth import Role
from services.admin.store import API_TOKENS, AUDIT_LOG, OPERATORS
from tests.integration.admin.conftest import (
    ADMIN_PHONE,
    BOOTSTRAP_TOKEN,
    OPERATOR,
    SUPPORT_PHONE,
    AdminHarness,
    auth,
)

pytestmark = pytest.mark.integration


async def test_bootstrap_token_creates_the_first_admin_then_is_refused(
    admin: AdminHarness,
) -> None:
    wrong = await admin.http.post(
        "/bootstrap", headers=auth("not-the-bootstrap-token-at-all"), json={"phone": ADMIN_PHONE}
    )
    assert wrong.status_code == 401

    created = await admin.http.post(
        "/bootstrap",
        headers=auth(BOOTSTRAP_TOKEN),
        json={"phone": "+1 (555) 555-0100", "token_name": "first"},
    )
    assert created.status_code == 201, created.text
    answer = created.json()
    assert answer["roles"] == ["admin"]
    token = answer["token"]

    me = await admin.http.get("/me", headers=auth(token))
    assert me.status_code == 200
    assert me.json() == {
        "kind": "token",
        "id": answer["token_id"],
        "operator_id": answer["operator_id"],
        "roles": ["admin"],
    }
    operator = await admin.admin_db[OPERATORS].find_one({"_id": answer["operator_id"]})
    assert operator is not None
    assert (operator["phone"], operator["roles"]) == (ADMIN_PHONE, ["admin"])
    assert await admin.sms_db.list_collection_names() == []
    row = await admin.admin_db[API_TOKENS].find_one({"_id": answer["token_id"]})
    assert row is not None
    assert row["hash"] == hashlib.sha256(token.encode()).hexdigest()
    for name in await admin.admin_db.list_collection_names():
        async for document in admin.admin_db[name].find():
            assert token not in repr(document), name
    audit = [row async for row in admin.admin_db[AUDIT_LOG].find()]
    assert [(a["action"], a["actor"]["kind"], a["target"]) for a in audit] == [
        ("admin.bootstrap", "bootstrap", {"type": "operator", "id": answer["operator_id"]})
    ]

    again = await admin.http.post(
        "/bootstrap", headers=auth(BOOTSTRAP_TOKEN), json={"phone": SUPPORT_PHONE}
    )
    assert again.status_code == 409
    assert again.json()["error"] == "bootstrap_closed"
    # An API token cannot bootstrap, and the bootstrap token opens nothing else.
    assert (
        await admin.http.post("/bootstrap", headers=auth(token), json={"phone": SUPPORT_PHONE})
    ).status_code == 403
    assert (await admin.http.get("/metrics", headers=auth(BOOTSTRAP_TOKEN))).status_code == 401
    assert await admin.admin_db[OPERATORS].count_documents({"roles": "admin"}) == 1


async def test_concurrent_bootstraps_make_exactly_one_admin(admin: AdminHarness) -> None:
    answers = await asyncio.gather(
        *(
            admin.http.post("/bootstrap", headers=auth(BOOTSTRAP_TOKEN), json={"phone": phone})
            for phone in (ADMIN_PHONE, SUPPORT_PHONE)
        )
    )
    assert sorted(answer.status_code for answer in answers) == [201, 409]
    assert await admin.admin_db[OPERATORS].count_documents({"roles": "admin"}) == 1


async def test_bootstrap_is_closed_once_any_admin_exists(admin: AdminHarness) -> None:
    await admin.services.actions.grant_role(OPERATOR, ADMIN_PHONE, Role.ADMIN)
    refused = await admin.http.post(
        "/bootstrap", headers=auth(BOOTSTRAP_TOKEN), json={"phone": SUPPORT_PHONE}
    )
    assert refused.status_code == 409
    assert refused.json()["error"] == "bootstrap_closed"
