"""Who is calling, and what their role lets them do (contract, "Roles").

In AWS the HttpApi JWT authorizer has already checked the Cognito token and hands its claims to
the function; the handler still refuses a protected call without claims, so a misrouted or
directly invoked request is never treated as trusted. The role is the `cognito:groups` claim,
the identity the `username` claim. OPD_AUTH=off (local experiments only) makes everyone admin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from opd.domain import Booking, Source
from opd.errors import Forbidden, NotFound, Unauthorized
from opd.settings import current as settings


class Role(StrEnum):
    PATIENT = "patient"
    RECEPTION = "reception"
    ADMIN = "admin"


STAFF = (Role.RECEPTION, Role.ADMIN)
BOOKING_READERS = (Role.PATIENT, *STAFF)  # who may ask for a booking by id; a patient sees only their own
ROLE_NAMES = frozenset(role.value for role in Role)
LOCAL_ADMIN = "local-admin"


def groups_of(claim: Any) -> frozenset[Role]:
    """API Gateway passes an array claim as text like "[admin reception]"; accept that, a list or one name."""
    if isinstance(claim, str):
        names: Iterable[Any] = claim.strip().strip("[]").replace(",", " ").split()
    elif isinstance(claim, list | tuple):
        names = claim
    else:
        names = ()
    return frozenset(Role(name) for name in names if name in ROLE_NAMES)


@dataclass(frozen=True)
class Caller:
    username: str
    roles: frozenset[Role]

    def is_any(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)

    def require(self, *roles: Role) -> Caller:
        if not self.is_any(*roles):
            raise Forbidden(f"this needs the role {' or '.join(roles)}")
        return self


def caller_of(event: APIGatewayProxyEventV2) -> Caller:
    claims = event.request_context.authorizer.jwt_claim
    if not settings().auth:
        return Caller(username=str(claims.get("username") or LOCAL_ADMIN), roles=frozenset({Role.ADMIN}))
    if not claims:
        raise Unauthorized("a bearer token is required")
    username = claims.get("username")
    if not isinstance(username, str) or not username:
        raise Unauthorized("the token names no user")
    return Caller(username=username, roles=groups_of(claims.get("cognito:groups")))


def may_book(caller: Caller, patient_id: str, source: Source) -> None:
    """Staff book any source for anyone; a patient books ONLINE, for themselves only."""
    if caller.is_any(*STAFF):
        return
    caller.require(Role.PATIENT)
    if source is not Source.ONLINE:
        raise Forbidden("a patient may only book ONLINE")
    if patient_id != caller.username:
        raise Forbidden("a patient may only book for themselves")


def may_list_bookings(caller: Caller, patient_id: str) -> None:
    """Staff list anyone's bookings; a patient their own. Another patient's list is 403: the id is in the
    path, so refusing it tells nothing about which bookings exist."""
    if caller.is_any(*STAFF):
        return
    caller.require(Role.PATIENT)
    if patient_id != caller.username:
        raise Forbidden("a patient may only list their own bookings")


def may_see(caller: Caller, booking: Booking) -> None:
    """Staff see (and cancel) any booking; a patient only their own.

    Another patient's booking is answered exactly like an unknown id (the service's words), so an
    answer never tells a patient that a booking id exists. Check the role (`BOOKING_READERS`)
    before looking the booking up, for the same reason.
    """
    if caller.is_any(*STAFF):
        return
    caller.require(Role.PATIENT)
    if booking.patient_id != caller.username:
        raise NotFound(f"no booking {booking.booking_id}")


def may_see_patient(caller: Caller, patient_id: str) -> None:
    """Staff read and change any patient's record; a patient only their own. Another patient's record is answered
    as an unknown id is (the service's words), and before any lookup, so a patient never learns that an id is
    registered."""
    if caller.is_any(*STAFF):
        return
    caller.require(Role.PATIENT)
    if patient_id != caller.username:
        raise NotFound(f"no patient {patient_id}")
