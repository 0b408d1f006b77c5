"""Sign-in by phone's requests and answers (contract v3, "Sign-in by phone"): POST /auth/otp and /auth/otp/verify."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from opd.api.models import Phone, RequestModel
from opd.contract import ResponseModel
from opd.domain.otp import CODE_TTL_S

# Exactly 6 digits: a code of another shape is refused as invalid input (400) and counts as no try.
Code = Annotated[str, Field(pattern=r"^[0-9]{6}$", strict=True, examples=["123456"])]


class RequestCodeRequest(RequestModel):
    """POST /auth/otp: the phone the code goes to."""

    phone: Phone


class VerifyCodeRequest(RequestModel):
    """POST /auth/otp/verify: the phone, and the code it was sent."""

    phone: Phone
    code: Code


class CodeSentOut(ResponseModel):
    """202: the code is on its way; it works this many seconds."""

    expires_in: Annotated[int, Field(examples=[CODE_TTL_S])]


class SignedInOut(ResponseModel):
    """200: Cognito's tokens of the patient the phone signs in to (their `username` is the patientId)."""

    access_token: Annotated[str, Field(description="a Cognito access token: `Authorization: Bearer <it>`")]
    refresh_token: Annotated[str, Field(description="Cognito's refresh token (the patients' app client)")]
    expires_in: Annotated[int, Field(description="the access token's life in seconds")]
    patient_id: str
    new_patient: Annotated[bool, Field(description="a patient made by this sign-in (no name yet)")]
