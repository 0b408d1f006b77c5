"""Sign-in by phone without a stack: moto's server in a thread, the runner's Cognito front on it, and the stack's
three trigger functions run in this process (the runner runs them in Lambda environments of their own)."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from devserver import REPO_ROOT
from devserver import template as templates
from devserver.apigw import LambdaContext
from devserver.cognito import CognitoServer, LocalCognito, set_up_pool
from devserver.customauth import CustomAuthFront
from devserver.motoserver import take_sms

_CODE = re.compile(r"\b[0-9]{6}\b")


def code_in(text: str) -> str:
    """The sign-in code an SMS carries."""
    found = _CODE.search(text)
    assert found is not None, "no code in the SMS"
    return found[0]


def in_process_triggers() -> Any:
    """Invoke the pool's trigger functions (template.yaml's LambdaConfig) in this process, as Lambda would."""
    functions = templates.cognito_triggers(templates.load_template(REPO_ROOT / "template.yaml"), REPO_ROOT)

    def invoke(trigger: str, event: dict[str, Any]) -> Any:
        function = functions[trigger]
        handler = getattr(importlib.import_module(function.module), function.handler)
        return handler(event, LambdaContext(function.name, function.memory_mb, function.timeout_s))

    return invoke


@dataclass
class SignInCognito:
    """moto in a thread of this process, with the local pool, and the front the functions call as their Cognito."""

    server: CognitoServer
    cognito: LocalCognito
    front: CustomAuthFront

    @property
    def moto_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def environment(self) -> dict[str, str]:
        """What the functions need to sign in by phone against this Cognito and send the codes through its SNS."""
        return {
            "COGNITO_USER_POOL_ID": self.cognito.pool_id,
            "COGNITO_PATIENT_CLIENT_ID": self.cognito.patient_client_id,
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": self.front.endpoint,
            "AWS_ENDPOINT_URL_SNS": self.moto_endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "SIGN_IN_CODE_KEY": "tests-sign-in-code-key-0123456789",
            "SMS_MONTHLY_SPEND_LIMIT_USD": "100000",  # the tests of a session share one month's SMS counter
        }

    def sms(self) -> list[tuple[str, str]]:
        """The SMS moto's SNS sent since the last call, (phone, text), oldest first (then forgotten)."""
        return [(phone, text) for phone, text in take_sms("")]


@contextmanager
def sign_in_cognito() -> Iterator[SignInCognito]:
    server = CognitoServer()
    server.start()
    try:
        cognito = set_up_pool(server, f"http://127.0.0.1:{server.port}")
        front = CustomAuthFront(cognito, in_process_triggers()).serve()
        try:
            yield SignInCognito(server, cognito, front)
        finally:
            front.stop()
    finally:
        server.stop()
