"""Cognito's Verify auth challenge response trigger of sign-in by phone: is the answer the challenge's code, while
it lives? (`domain.otp.verify`, under the stack's key: `opd.service.signin.CodeChecker`.)"""

from __future__ import annotations

from typing import Any

from opd.api.snapstart import SECRETS_MODULE
from opd.triggers import Event, make_trigger


def verify(event: Event) -> dict[str, Any]:
    from opd import runtime  # the key is read (Secrets Manager in AWS) with the first invocation

    return {"answerCorrect": runtime.code_checker().verify(str(event["userName"]), event["request"])}


# Imported before a SnapStart snapshot: Powertools' secrets (the key is read at the first invocation) and boto3.
CLIENT_MODULES = ("boto3", "opd.runtime", "opd.service.signin", SECRETS_MODULE)

lambda_handler = make_trigger("VerifyAuthChallengeResponse_Authentication", verify, prime=CLIENT_MODULES)
