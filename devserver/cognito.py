"""A local Cognito user pool (moto's server in a thread): the issuer of every token the runner accepts.

Only this process talks to it (boto3 for users and tokens, the JWT verifier for its keys), never a
browser: moto's server answers any origin's CORS request and checks no signature, so a web page that
found its port could otherwise make itself an admin token. `_NoBrowsers` refuses every request that
carries an Origin or names another host, and lets no CORS header out.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import boto3  # type: ignore[import-untyped]
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from devserver.auth import JwtVerifier
from opd.api.auth import Role

ROLES = tuple(role.value for role in Role)  # the Cognito groups: the layer's roles
REGION = "us-east-1"
_PASSWORD = "Local-only-password-1"  # every local user's; tokens come from /_local/token, never a login


class _NoBrowsers:
    """WSGI middleware: 403 for a request with an Origin header or a Host other than ours; no CORS headers out."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        port = environ.get("SERVER_PORT")
        ours = {f"127.0.0.1:{port}", f"localhost:{port}"}
        if "HTTP_ORIGIN" in environ or environ.get("HTTP_HOST", f"127.0.0.1:{port}").lower() not in ours:
            start_response(
                "403 Forbidden", [("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff")]
            )
            return [b'{"message":"the local Cognito answers the local runner only, not browsers"}']

        def without_cors(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(name, value) for name, value in headers if not name.lower().startswith("access-control-")]
            return start_response(status, kept, exc_info)

        return self.app(environ, without_cors)


class CognitoServer:
    """moto's server app behind `_NoBrowsers`, on a free port it binds itself, in a thread."""

    def __init__(self) -> None:
        app = _NoBrowsers(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-cognito", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()


@dataclass
class LocalCognito:
    server: CognitoServer
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


def start_cognito() -> LocalCognito:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server would log every call
    server = CognitoServer()
    server.start()
    endpoint = f"http://127.0.0.1:{server.port}"
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
