"""POST /abdm/v3/hip/patient/profile/share (the ABDM gateway, no Cognito authorizer): a patient's Scan & Share.

The gateway's own bearer JWT is checked first, against its published keys (`opd.abdm.gatewaykeys`): missing, signed
by another key, tampered with or expired is 401 UNAUTHORIZED, before the headers or the body are read and with
nothing written. Then ABDM's headers (X-HIP-ID must be this HIP's) and the body, then the work: the patient
registered or updated by ABHA address, the counter's token (the same one for a repeat share within 30 minutes), the
on-share callback queued (`opd.abdm.share`). The answer is 202 `{"requestId", "status": "ACCEPTED"}` at once; the
token reaches the patient's app in the callback.

Where Scan & Share is not set up (no ABDM_HIP_ID or on-share queue), 404 NOT_FOUND "Scan & Share is not set up":
the deployment offers no HIP endpoint, which is what a 404 says, and the gateway takes it as final. Not a 5xx (nothing
failed) and not 401/403 (nothing is wrong with the caller). Logs name the counter, the patient id and the token
number, never the ABHA address, the name or the phone.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from opd.abdm.share import ProfileShare, ShareAcceptedOut, ShareHeaders
from opd.api.observability import count, logger
from opd.api.openapi import Error, error_responses
from opd.api.resolver import Response, answer, json_object, make_app, make_handler
from opd.errors import DependencyUnavailable, NotFound, SlotBusy, ValidationFailed
from opd.settings import SettingsError
from opd.settings import current as settings

app = make_app()


def _body() -> Any:
    """The request's JSON object (bounded as every body is); ValidationFailed on `body` otherwise."""
    text = app.current_event.decoded_body
    if not text:
        raise ValidationFailed.field("body", "a JSON object body is required")
    try:
        return json_object(text)
    except json.JSONDecodeError as error:
        raise ValidationFailed.field("body", f"must be a JSON object: {error.msg}") from None


@app.post(
    "/abdm/v3/hip/patient/profile/share",
    summary="ABDM Scan & Share: the gateway posts a patient's ABHA profile for a counter's token (the ABDM gateway, "
    "with its signed bearer token)",
    description="Headers REQUEST-ID, TIMESTAMP, X-HIP-ID, X-CM-ID and the body as ABDM's v3 profile share gives them: "
    '`{"intent": "PROFILE_SHARE", "metaData": {"hipId", "context": counterId}, "profile": {"patient": {"abhaAddress", '
    '"name", "gender", "yearOfBirth", "address", "phoneNumber"}}}`; read only once the bearer token is verified.',
    tags=["abdm"],
    responses={
        202: {"description": "Accepted: the token goes to the patient's app in the on-share callback"},
        401: {
            "description": "Unauthorized: `error.code` UNAUTHORIZED, a bearer token the gateway's published keys do "
            "not verify (missing, another key, tampered with, expired); nothing is written",
            "content": {"application/json": {"model": Error}},
        },
        **error_responses(ValidationFailed, NotFound, SlotBusy, DependencyUnavailable),
    },
)
def profile_share() -> Response[ShareAcceptedOut]:
    from opd import runtime  # pymongo, PyJWT and boto3 load with the first request, not with the module

    try:
        hip_id, _ = settings().abdm_share
    except SettingsError:
        raise NotFound("Scan & Share is not set up") from None
    event = app.current_event
    runtime.abdm_gateway_keys().verify(event.headers.get("authorization"))  # first: nothing is read before it
    headers = ShareHeaders.read(event.headers, hip_id)
    share = ProfileShare.read(_body())
    taken = runtime.scan_and_share().take(share, headers)
    token = taken.shared.token
    logger.info(
        "scan and share taken",
        counter_id=token.counter_id,
        patient_id=taken.patient.patient_id,
        token=token.number,
        new_token=taken.shared.new,
        queued=taken.queued,
    )
    count("ScanAndShares", token="new" if taken.shared.new else "repeat")
    if taken.shared.new:  # a repeat share gets the token it had
        count("CounterTokens", source="ABDM")
    return answer(ShareAcceptedOut(request_id=headers.request_id), HTTPStatus.ACCEPTED)


lambda_handler = make_handler(app)
