"""POST /auth/otp (public): send a 6-digit sign-in code to a phone by SMS (contract v3, "Sign-in by phone").

At most 3 codes per phone in 15 minutes (then 429 TOO_MANY_CODES with Retry-After). The SMS is written in the
request's Accept-Language among the contract's languages, else DEFAULT_LANGUAGE. Cognito's Create auth challenge
trigger makes and sends the code (`opd.service.signin`); this answers 202 once it is sent. No log line names the
phone: the sign-in's patient id only.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from opd.api.observability import count, logger
from opd.api.openapi import error_responses
from opd.api.resolver import Response, answer, make_app, make_handler
from opd.api.signin import CodeSentOut, RequestCodeRequest
from opd.catalogs import preferred
from opd.errors import DependencyUnavailable, TooManyCodes, ValidationFailed
from opd.settings import current as settings

if TYPE_CHECKING:
    from opd.service.signin import PhoneSignIn

app = make_app()


def sign_in() -> PhoneSignIn:
    from opd import runtime  # Redis, MongoDB and boto3 load with the first request, not with the module

    return runtime.phone_sign_in()


@app.post(
    "/auth/otp",
    summary="Send a sign-in code to a phone by SMS: at most 3 codes per phone in 15 minutes (public)",
    tags=["sign-in"],
    responses={
        202: {"description": "Accepted: a 6-digit code is on its way by SMS; it works `expiresIn` seconds"},
        **error_responses(ValidationFailed, TooManyCodes, DependencyUnavailable),
    },
)
def request_code(request: RequestCodeRequest) -> Response[CodeSentOut]:
    language = preferred(app.current_event.headers.get("accept-language")) or settings().default_language
    requested = sign_in().request_code(request.phone, language.value)
    logger.info("sign-in code sent", patient_id=requested.patient_id, new_patient=requested.new_patient)
    count("OtpCodesSent")  # refusals are counted with every other (`opd.api.errors`): OtpCodesRefused by code
    return answer(CodeSentOut(expires_in=requested.expires_in), HTTPStatus.ACCEPTED)


lambda_handler = make_handler(app)
