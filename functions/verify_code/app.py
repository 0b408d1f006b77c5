"""POST /auth/otp/verify (public): a phone's sign-in code for Cognito tokens (contract v3, "Sign-in by phone").

The tokens are those of a user in the group patient whose `username` is the patientId: the patient the phone
signs in to, or a patient made now (`newPatient`: no name yet; the app asks for it). A code works once, for 5
minutes; 5 wrong tries void it; wrong, void, used or expired: 401 INVALID_CODE. No log line names the phone or
carries the code or a token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opd.api.observability import logger
from opd.api.openapi import error_responses
from opd.api.resolver import Response, answer, make_app, make_handler
from opd.api.signin import SignedInOut, VerifyCodeRequest
from opd.errors import DependencyUnavailable, InvalidCode, ValidationFailed

if TYPE_CHECKING:
    from opd.service.signin import PhoneSignIn

app = make_app()


def sign_in() -> PhoneSignIn:
    from opd import runtime  # Redis, MongoDB and boto3 load with the first request, not with the module

    return runtime.phone_sign_in()


@app.post(
    "/auth/otp/verify",
    summary="Sign in with the code sent to a phone: Cognito tokens of the patient it signs in to (public)",
    tags=["sign-in"],
    responses={
        200: {"description": "OK: the patient's tokens, their patientId, and whether this sign-in made them"},
        **error_responses(ValidationFailed, InvalidCode, DependencyUnavailable),
    },
)
def verify_code(request: VerifyCodeRequest) -> Response[SignedInOut]:
    signed_in = sign_in().verify(request.phone, request.code)
    logger.info("signed in by phone", patient_id=signed_in.patient_id, new_patient=signed_in.new_patient)
    tokens = signed_in.tokens
    return answer(
        SignedInOut(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_in=tokens.expires_in,
            patient_id=signed_in.patient_id,
            new_patient=signed_in.new_patient,
        )
    )


lambda_handler = make_handler(app)
