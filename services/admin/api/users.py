"""`/admin/users/{ref}`: a caregiver's whole picture, the roles of their phone's operator, and
texting them through the normal outbound path."""

# No `from __future__ import annotations`: FastAPI reads the routes' signatures at runtime.

from fastapi import APIRouter

from services.admin.api.deps import AdminCaller, AdminDep, SupportCaller, UserRef
from services.admin.api.errors import AdminRoute
from services.admin.auth import Role
from services.admin.schemas import (
    MaskedUserDetail,
    MessageRequest,
    MessageRequested,
    OperatorRoles,
    UserDetail,
    UserView,
)

router = APIRouter(prefix="/users", tags=["users"], route_class=AdminRoute)


@router.get("/{user_ref}", response_model=UserView)
async def user(
    actor: SupportCaller, admin: AdminDep, user_ref: UserRef
) -> UserDetail | MaskedUserDetail:
    """A user by id or E.164 phone: profile, conversation, billing, last messages, and the
    roles of that phone's operator — in full for admins, masked for support (`view`)."""
    return await admin.reads.user(actor, user_ref)


@router.post("/{user_ref}/roles/{role}")
async def grant_role(
    actor: AdminCaller, admin: AdminDep, user_ref: UserRef, role: Role
) -> OperatorRoles:
    """Grant a role to the operator with that phone (created if new; they need never have
    texted us), operator id, or SMS-worker user id."""
    return await admin.actions.grant_role(actor, user_ref, role)


@router.delete("/{user_ref}/roles/{role}")
async def revoke_role(
    actor: AdminCaller, admin: AdminDep, user_ref: UserRef, role: Role
) -> OperatorRoles:
    """Take a role from an operator; the last admin keeps theirs."""
    return await admin.actions.revoke_role(actor, user_ref, role)


@router.post("/{user_ref}/messages", status_code=202)
async def send_message(
    actor: AdminCaller, admin: AdminDep, user_ref: UserRef, request: MessageRequest
) -> MessageRequested:
    """Text the user through the normal outbound path; 409 if they opted out."""
    return await admin.actions.send_message(
        actor, user_ref, request.body, request_id=request.request_id
    )
