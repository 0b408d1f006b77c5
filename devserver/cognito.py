"""A local Cognito user pool (moto's server, in a process of its own): the issuer of every token the runner accepts.

Only the runner talks to it (boto3 for users and tokens, the JWT verifier for its keys; the Lambda
environments and the local bus for EventBridge, SQS and SNS, on the same server; the Lambda environments' Cognito
calls of sign-in by phone through the runner's front, `devserver.customauth`), never a browser:
moto's server answers any origin's CORS request and checks no signature, so a web page that found its
port could otherwise make itself an admin token. `devserver.motoserver._NoBrowsers` refuses every
request that carries an Origin or names another host, and lets no CORS header out.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3  # type: ignore[import-untyped]
from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import BaseWSGIServer, make_server

from devserver.auth import JwtVerifier
from devserver.motoserver import MotoProcess, moto_app
from opd.api.auth import Role

ROLES = tuple(role.value for role in Role)  # the Cognito groups: the layer's roles
REGION = "us-east-1"
_PASSWORD = "Local-only-password-1"  # every local user's; tokens come from /_local/token, never a login
POOL_NAME = "opd-local"
# The app clients, as template.yaml's: the staff's (tokens from /_local/token) and the patients' (sign-in by phone).
STAFF_CLIENT: dict[str, Any] = {
    "ClientName": "opd-local",
    "ExplicitAuthFlows": ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
}
PATIENT_CLIENT: dict[str, Any] = {
    "ClientName": "opd-local-patients",
    "ExplicitAuthFlows": ["ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
}
_POOL_ID_LENGTH, _CLIENT_ID_LENGTH = 55, 26  # moto's


def _moto_hash(*parts: Any) -> str:
    """moto's id under its HASH strategy (moto.cognitoidp.utils._generate_id_hash): SHA-256 of the parts' str()."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(str(part).encode())
    return hasher.hexdigest()


@dataclass(frozen=True)
class PoolIds:
    """The local pool's ids, known before moto's server is up: it runs with moto's HASH id strategy
    (`devserver.motoserver.MotoProcess`), which makes an id a hash of what created it, so the runner can hand
    them to the Lambda environments it starts meanwhile. `start_cognito` checks moto made the same."""

    pool_id: str
    client_id: str
    patient_client_id: str

    @classmethod
    def expected(cls) -> PoolIds:
        # The request's parameters are hashed as moto holds them when it makes the id (measured with moto 5.2.5).
        pool_id = f"{REGION}_{_moto_hash(REGION, POOL_NAME, {'PoolName': POOL_NAME})}"[:_POOL_ID_LENGTH]
        return cls(
            pool_id,
            _moto_hash(pool_id, False, {"UserPoolId": pool_id, **STAFF_CLIENT})[:_CLIENT_ID_LENGTH],
            _moto_hash(pool_id, False, {"UserPoolId": pool_id, **PATIENT_CLIENT})[:_CLIENT_ID_LENGTH],
        )

    def environment(self) -> dict[str, str]:
        """What the route functions of sign-in by phone read (template.yaml gives them the same from the stack)."""
        return {"COGNITO_USER_POOL_ID": self.pool_id, "COGNITO_PATIENT_CLIENT_ID": self.patient_client_id}


class _MotoServer(Protocol):
    """Where moto's server runs: a process of its own (the runner) or a thread of this one (tests)."""

    @property
    def pid(self) -> int: ...

    def stop(self) -> None: ...


class CognitoServer:
    """moto's server app (`devserver.motoserver.moto_app`), on a free port it binds itself, in a thread of this
    process: for tests that need moto's APIs without a stack. The runner starts `MotoProcess` instead."""

    def __init__(self) -> None:
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, moto_app(), threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-cognito", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def pid(self) -> int:
        return os.getpid()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()


@dataclass
class LocalCognito:
    server: _MotoServer
    endpoint: str
    client: Any  # boto3 cognito-idp client
    pool_id: str
    client_id: str
    patient_client_id: str = ""  # the patients' app client (sign-in by phone); "" where there is none
    _users: dict[str, str] = field(default_factory=dict)  # user -> the role they were last given
    _enrolling: threading.Lock = field(default_factory=threading.Lock)

    @property
    def issuer(self) -> str:
        # moto signs tokens with the issuer the real service would use
        return f"https://cognito-idp.{REGION}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}/{self.pool_id}/.well-known/jwks.json"

    def verifier(self) -> JwtVerifier:
        audiences = tuple(client for client in (self.client_id, self.patient_client_id) if client)
        return JwtVerifier(issuer=self.issuer, audiences=audiences, jwks_url=self.jwks_url)

    def token(self, role: str, user: str) -> str:
        """A real access token for `user`, created on first use, in the group `role` only."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        with self._enrolling:
            if self._users.get(user) != role:
                self._enrol(user, role)
        answer = self.client.admin_initiate_auth(
            UserPoolId=self.pool_id,
            ClientId=self.client_id,
            AuthFlow="ADMIN_NO_SRP_AUTH",
            AuthParameters={"USERNAME": user, "PASSWORD": _PASSWORD},
        )
        return str(answer["AuthenticationResult"]["AccessToken"])

    def tokens_for(self, user: str, client_id: str) -> dict[str, Any]:
        """Cognito's AuthenticationResult for `user` as they are (their groups untouched), issued to `client_id`:
        what the local Cognito front answers a finished custom sign-in (moto mints the tokens)."""
        self.client.admin_set_user_password(UserPoolId=self.pool_id, Username=user, Password=_PASSWORD, Permanent=True)
        answer = self.client.admin_initiate_auth(
            UserPoolId=self.pool_id,
            ClientId=client_id,
            AuthFlow="ADMIN_NO_SRP_AUTH",
            AuthParameters={"USERNAME": user, "PASSWORD": _PASSWORD},
        )
        return dict(answer["AuthenticationResult"])

    def _enrol(self, user: str, role: str) -> None:
        with contextlib.suppress(self.client.exceptions.UsernameExistsException):
            self.client.admin_create_user(UserPoolId=self.pool_id, Username=user, MessageAction="SUPPRESS")
        self.client.admin_set_user_password(UserPoolId=self.pool_id, Username=user, Password=_PASSWORD, Permanent=True)
        # One group per user, so the token says exactly the role that was asked for.
        groups = self.client.admin_list_groups_for_user(UserPoolId=self.pool_id, Username=user)["Groups"]
        for group in groups:
            if group["GroupName"] != role:
                self.client.admin_remove_user_from_group(
                    UserPoolId=self.pool_id, Username=user, GroupName=group["GroupName"]
                )
        self.client.admin_add_user_to_group(UserPoolId=self.pool_id, Username=user, GroupName=role)
        self._users[user] = role

    def stop(self) -> None:
        self.server.stop()


def start_cognito(port: int = 0) -> LocalCognito:
    """moto's server in a process of its own (`devserver.motoserver`), with the user pool, its clients and groups,
    whose ids are `PoolIds.expected()`."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server would log every call
    server = MotoProcess(port).start()
    try:
        return set_up_pool(server, server.endpoint, PoolIds.expected())
    except BaseException:
        server.stop()
        raise


def set_up_pool(server: _MotoServer, endpoint: str, expected: PoolIds | None = None) -> LocalCognito:
    """The user pool, its clients (`STAFF_CLIENT`, `PATIENT_CLIENT`) and groups on moto's server at `endpoint`; with
    `expected`, RuntimeError unless moto gave them those ids."""
    client = boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    pool_id = client.create_user_pool(PoolName=POOL_NAME)["UserPool"]["Id"]
    client_id = client.create_user_pool_client(UserPoolId=pool_id, **STAFF_CLIENT)["UserPoolClient"]["ClientId"]
    patients = client.create_user_pool_client(UserPoolId=pool_id, **PATIENT_CLIENT)["UserPoolClient"]["ClientId"]
    for role in ROLES:
        client.create_group(UserPoolId=pool_id, GroupName=role)
    if expected is not None and PoolIds(pool_id, client_id, patients) != expected:
        raise RuntimeError(f"moto made other ids than PoolIds.expected(): {pool_id}, {client_id}, {patients}")
    return LocalCognito(server, endpoint, client, pool_id, client_id, patients)
