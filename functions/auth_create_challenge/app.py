"""Cognito's Create auth challenge trigger of sign-in by phone: the code, made and sent by SMS on a sign-in's
first challenge, the same code again on a retry (`opd.service.signin.CodeSender`).

A code is sent only against the ticket the service handed over for it (POST /auth/otp), to the phone the ticket
names, in its language, through SNS, within the SMS spend limit's share for codes. The code itself is never kept:
Cognito keeps its salted HMAC, in the challenge's private parameters and metadata.
"""

from __future__ import annotations

from typing import Any

from opd.api.snapstart import SECRETS_MODULE
from opd.triggers import Event, make_trigger


def create(event: Event) -> dict[str, Any]:
    from opd import runtime  # Redis and boto3 load with the first invocation, not with the module

    return runtime.code_sender().create(str(event["userName"]), event["request"])


# Imported before a SnapStart snapshot: the clients' modules, Powertools' for the secrets (the key, Redis's URL),
# and Babel's reader of the SMS catalogs (`opd.catalogs`, read at the first code sent).
CLIENT_MODULES = (
    "boto3",
    "redis",
    "opd.runtime",
    "opd.service.signin",
    "opd.signins",
    "babel.messages.pofile",
    SECRETS_MODULE,
)

lambda_handler = make_trigger("CreateAuthChallenge_Authentication", create, prime=CLIENT_MODULES)
