"""`/admin/me` and `/admin/tokens`: who a token is, and minting, listing and revoking tokens."""

# No `from __future__ import annotations`: FastAPI reads the routes' signatures at runtime.

from fastapi import APIRouter

from services.admin.api.deps import AdminCaller, AdminDep, Filter, Limit, Ref, SupportCaller
from services.admin.api.errors import AdminRoute
from services.admin.schemas import Caller, NewToken, TokenListing, TokenRequest, TokenRevoked

router = APIRouter(tags=["tokens"], route_class=AdminRoute)


@router.get("/me")
async def me(actor: SupportCaller) -> Caller:
    """Who this token is (its id and its operator's) and what it may do."""
    return Caller.of(actor)


@router.get("/tokens")
async def tokens(
    actor: AdminCaller, admin: AdminDep, operator_id: Filter = None, limit: Limit = 100
) -> list[TokenListing]:
    """API tokens (never their hashes), newest first; `operator_id` narrows to one owner."""
    return await admin.reads.tokens(actor, operator_id=operator_id, limit=admin.page(limit))


@router.post("/tokens", status_code=201)
async def create_token(actor: AdminCaller, admin: AdminDep, request: TokenRequest) -> NewToken:
    """Mint a token for an operator; the token is in this answer and nowhere else."""
    return await admin.actions.create_token(
        actor, request.user, roles=request.roles, ttl_days=request.ttl_days, name=request.name
    )


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(actor: AdminCaller, admin: AdminDep, token_id: Ref) -> TokenRevoked:
    """Revoke a token at once (409 if it already is)."""
    return await admin.actions.revoke_token(actor, token_id)
