"""Cognito adapter of sign-in by phone: the patients' users in the user pool, and its custom authentication flow.

The route functions call Cognito's admin API (signed with the function's role: nobody else may start or answer a
sign-in this way): AdminCreateUser, AdminSetUserPassword, AdminAddUserToGroup, AdminGetUser, AdminInitiateAuth
(CUSTOM_AUTH) and AdminRespondToAuthChallenge (CUSTOM_CHALLENGE). Cognito runs the stack's three triggers in
between (`functions/auth_*_challenge`), which make, send and check the code.

A new user gets a random password nobody is told, set as permanent: that makes the user CONFIRMED rather than
FORCE_CHANGE_PASSWORD (no password challenge can come between the patient and their tokens), and no password
sign-in can ever succeed for it. Cognito's own messages are never passed on (they may quote what was sent): an
error becomes DependencyUnavailable naming Cognito's error code.

Locally the same calls reach the runner's Cognito front (`devserver/customauth.py`), which runs the same triggers.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Iterator
from typing import Any

from opd.domain.otp import CHALLENGE
from opd.errors import DependencyUnavailable
from opd.ports import Tokens

PATIENT_GROUP = "patient"
REFUSED = frozenset({"NotAuthorizedException", "CodeMismatchException", "ExpiredCodeException"})
TRIGGER_FAILED = frozenset(
    {"UserLambdaValidationException", "UnexpectedLambdaException", "InvalidLambdaResponseException"}
)
_CLIENT_LOGGERS = ("botocore", "boto3", "urllib3")


def quiet_clients() -> None:
    """At DEBUG, botocore logs every request's parameters: an SMS's phone and text (a code), a code's answer. No
    setting of this deployment may turn that on."""
    for name in _CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code) if code else type(error).__name__


@contextlib.contextmanager
def cognito_errors() -> Iterator[None]:
    """Cognito's errors, and its connection's, as DependencyUnavailable naming only the error's code."""
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

    try:
        yield
    except ClientError as error:
        code = _error_code(error)
        if code in TRIGGER_FAILED:  # the Create trigger could not send the code (SMS limit, SNS, no ticket)
            raise DependencyUnavailable("sms", f"the sign-in code could not be sent ({code})") from error
        raise DependencyUnavailable("cognito", f"Cognito refused the call: {code}") from error
    except BotoCoreError as error:
        raise DependencyUnavailable("cognito", f"Cognito unreachable: {type(error).__name__}") from error


def unknowable_password() -> str:
    """A password no one is told, that meets any pool's policy: 48 characters with upper and lower case, a digit and
    a symbol."""
    return f"{secrets.token_urlsafe(33)}aA1!"


class CognitoPatients:
    """`ports.PatientPool` over a boto3 `cognito-idp` client."""

    def __init__(self, client: Any, pool_id: str, client_id: str) -> None:
        self.client = client
        self.pool_id = pool_id
        self.client_id = client_id

    def enrol(self, username: str) -> None:
        pool = self.pool_id
        with cognito_errors():
            try:
                self.client.admin_create_user(UserPoolId=pool, Username=username, MessageAction="SUPPRESS")
                unconfirmed = True
            except self.client.exceptions.UsernameExistsException:  # asked for a code before, or enrolled half
                user = self.client.admin_get_user(UserPoolId=pool, Username=username)
                unconfirmed = user.get("UserStatus") == "FORCE_CHANGE_PASSWORD"
            if unconfirmed:
                self.client.admin_set_user_password(
                    UserPoolId=pool, Username=username, Password=unknowable_password(), Permanent=True
                )
            self.client.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=PATIENT_GROUP)

    def start(self, username: str) -> str:
        with cognito_errors():
            reply = self.client.admin_initiate_auth(
                UserPoolId=self.pool_id,
                ClientId=self.client_id,
                AuthFlow="CUSTOM_AUTH",
                AuthParameters={"USERNAME": username},
            )
        session = reply.get("Session")
        if reply.get("ChallengeName") != CHALLENGE or not isinstance(session, str):
            raise DependencyUnavailable("cognito", f"Cognito answered {reply.get('ChallengeName')}, not {CHALLENGE}")
        return session

    def answer(self, username: str, session: str, code: str) -> Tokens | str | None:
        from botocore.exceptions import ClientError

        with cognito_errors():
            try:
                reply = self.client.admin_respond_to_auth_challenge(
                    UserPoolId=self.pool_id,
                    ClientId=self.client_id,
                    ChallengeName=CHALLENGE,
                    ChallengeResponses={"USERNAME": username, "ANSWER": code},
                    Session=session,
                )
            except ClientError as error:
                if _error_code(error) in REFUSED:  # 5 tries, the code's life or the session's over, or used
                    return None
                raise
        result = reply.get("AuthenticationResult")
        if isinstance(result, dict):
            return Tokens(str(result["AccessToken"]), str(result.get("RefreshToken", "")), int(result["ExpiresIn"]))
        if reply.get("ChallengeName") == CHALLENGE and isinstance(reply.get("Session"), str):
            return str(reply["Session"])
        raise DependencyUnavailable("cognito", f"Cognito answered {reply.get('ChallengeName')}, not {CHALLENGE}")
