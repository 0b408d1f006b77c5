"""A local Cognito user pool (moto's server, in a process of its own): the issuer of every token the runner accepts.

Only the runner talks to it (boto3 for users and tokens, the JWT verifier for its keys; the Lambda
environments and the local bus for EventBridge, SQS and SNS, on the same server), never a browser:
moto's server answers any origin's CORS request and checks no signature, so a web page that found its
port could otherwise make itself an admin token. `devserver.motoserver._NoBrowsers` refuses every
request that carries an Origin or names another host, and lets no CORS header out.
"""

from __future__ import annotations

import contextlib
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
        return JwtVerifier(issuer=self.issuer, audiences=(self.client_id,), jwks_url=self.jwks_url)

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
    """moto's server in a process of its own (`devserver.motoserver`), with the user pool, its client and groups."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server would log every call
    server = MotoProcess(port).start()
    endpoint = server.endpoint
    try:
        client = boto3.client(
            "cognito-idp",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        pool_id = client.create_user_pool(PoolName="opd-local")["UserPool"]["Id"]
        client_id = client.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="opd-local",
            ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        for role in ROLES:
            client.create_group(UserPoolId=pool_id, GroupName=role)
    except BaseException:
        server.stop()
        raise
    return LocalCognito(server, endpoint, client, pool_id, client_id)
