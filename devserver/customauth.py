"""Cognito's custom authentication flow on this machine: the Cognito endpoint of the local Lambda environments.

moto's Cognito (5.2.5) takes CUSTOM_AUTH as an InitiateAuth flow but runs no trigger and answers nothing, and its
AdminInitiateAuth refuses the flow (`moto/cognitoidp/models.py`: `admin_initiate_auth`'s `admin_auth_flows`). So
the runner points the environments' Cognito (`AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`) at this front, on
127.0.0.1, which forwards every call to moto's server as it came, but four, which it carries out itself as Cognito
does: (Admin)InitiateAuth with AuthFlow CUSTOM_AUTH and (Admin)RespondToAuthChallenge with CUSTOM_CHALLENGE. The
route functions make the very boto3 calls they make in AWS.

What it does, as Cognito's custom flow does (developer guide, "Custom authentication challenge Lambda triggers"):

- InitiateAuth: the client must allow ALLOW_CUSTOM_AUTH. Define (session empty) says what comes next; for a
  CUSTOM_CHALLENGE, Create makes it; the answer is `{ChallengeName, Session, ChallengeParameters}` (Create's public
  parameters and USERNAME). As in AWS, InitiateAuth's ClientMetadata reaches neither trigger.
- RespondToAuthChallenge: the session must be known, unexpired (the client's AuthSessionValidity, 5 minutes) and
  for this client and user; it is used up by the call. Verify gets Create's private parameters and the ANSWER; the
  challenge's result and metadata join the session list; Define decides again: tokens (moto's, for the user as
  the pool has them: `LocalCognito.tokens_for`), another challenge (a new session), or NotAuthorizedException.
- The triggers are this stack's functions, by the pool's LambdaConfig in template.yaml, invoked with Cognito's
  event (`version`, `triggerSource`, `region`, `userPoolId`, `userName`, `callerContext`, `request` with the
  user's attributes, `response`) in Lambda environments of their own (`runner.start_stack`); a trigger that fails
  is UserLambdaValidationException ("CreateAuthChallenge failed with error ...").
- Errors are Cognito's: status 400, `{"__type": "NotAuthorizedException", "message"}`, so boto3 raises the same
  exception classes as in AWS.

Like moto's server it answers no browser (`devserver.motoserver._NoBrowsers`).
"""

from __future__ import annotations

import http.client
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.serving import BaseWSGIServer, make_server

from devserver.cognito import REGION, LocalCognito, PoolIds
from devserver.lambdas import EnvironmentPool, FunctionFailed
from devserver.motoserver import _NoBrowsers
from devserver.template import Function

TARGET = "AWSCognitoIdentityProviderService."
CUSTOM_AUTH, CUSTOM_CHALLENGE = "CUSTOM_AUTH", "CUSTOM_CHALLENGE"
SESSION_VALIDITY_S = 300  # the patients' client's AuthSessionValidity in template.yaml: 5 minutes
DEFINE, CREATE, VERIFY = "DefineAuthChallenge", "CreateAuthChallenge", "VerifyAuthChallengeResponse"
_JSON = "application/x-amz-json-1.1"
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})

Event = dict[str, Any]
Invoke = Callable[[str, Event], Any]  # (the LambdaConfig trigger, e.g. "DefineAuthChallenge", its event) -> the event


class CognitoError(Exception):
    """An answer in Cognito's error shape."""

    def __init__(self, kind: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status


def _refused(message: str = "Incorrect username or password.") -> CognitoError:
    return CognitoError("NotAuthorizedException", message)


@dataclass
class _SignIn:
    """One custom sign-in between two calls: what Cognito keeps under its session token."""

    pool_id: str
    client_id: str
    username: str
    attributes: dict[str, str]
    user_found: bool
    session: list[dict[str, Any]] = field(default_factory=list)  # the challenges asked, as Define sees them
    challenge: str = CUSTOM_CHALLENGE
    private: dict[str, Any] = field(default_factory=dict)
    metadata: Any = None
    expires_at: float = 0.0


class CustomAuthFront:
    """The WSGI app; `serve()` runs it on 127.0.0.1."""

    def __init__(self, cognito: LocalCognito, invoke: Invoke, port: int = 0) -> None:
        self.cognito = cognito
        self.invoke = invoke
        self.port = port
        self._moto = urlsplit(cognito.endpoint)
        self._signins: dict[str, _SignIn] = {}
        self._guard = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- serving ------------------------------------------------------------------------------------------

    def serve(self) -> CustomAuthFront:
        self._server = make_server("127.0.0.1", self.port, _NoBrowsers(self), threaded=True)
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-cognito-front", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._server.server_close()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        action = str(environ.get("HTTP_X_AMZ_TARGET", "")).removeprefix(TARGET)
        request = _json(body) if action.endswith(("InitiateAuth", "RespondToAuthChallenge")) else None
        if request is not None and (
            (action.endswith("InitiateAuth") and request.get("AuthFlow") == CUSTOM_AUTH)
            or (action.endswith("RespondToAuthChallenge") and request.get("ChallengeName") == CUSTOM_CHALLENGE)
        ):
            try:
                status, answer, headers = 200, self.custom(action, request), [("Content-Type", _JSON)]
            except CognitoError as error:
                status, answer = error.status, {"__type": error.kind, "message": error.message}
                headers = [("Content-Type", _JSON), ("x-amzn-ErrorType", error.kind)]
            payload = json.dumps(answer).encode()
            headers += [("Content-Length", str(len(payload))), ("x-amzn-RequestId", str(uuid.uuid4()))]
            start_response(f"{status} {'OK' if status == 200 else 'Bad Request'}", headers)
            return [payload]
        return self._forward(environ, body, start_response)

    def _forward(self, environ: WSGIEnvironment, body: bytes, start_response: StartResponse) -> Iterable[bytes]:
        """The call as it came, to moto's server (which checks the Host: it is moto's own)."""
        headers = {
            key[5:].replace("_", "-").title(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in _HOP_BY_HOP
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = str(environ["CONTENT_TYPE"])
        headers["Host"] = str(self._moto.netloc)
        query = str(environ.get("QUERY_STRING") or "")
        target = str(environ.get("PATH_INFO") or "/") + (f"?{query}" if query else "")
        moto = http.client.HTTPConnection(self._moto.hostname or "127.0.0.1", self._moto.port, timeout=30)
        try:
            moto.request(str(environ.get("REQUEST_METHOD", "POST")), target, body=body, headers=headers)
            answer = moto.getresponse()
            payload = answer.read()
        finally:
            moto.close()
        kept = [(name, value) for name, value in answer.getheaders() if name.lower() not in _HOP_BY_HOP]
        start_response(f"{answer.status} {answer.reason}", [*kept, ("Content-Length", str(len(payload)))])
        return [payload]

    # -- Cognito's custom flow ------------------------------------------------------------------------------

    def custom(self, action: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """The answer to a custom-flow call; CognitoError as Cognito refuses it."""
        admin = action.startswith("Admin")
        if action.endswith("InitiateAuth"):
            return self._initiate(request, admin)
        return self._respond(request, admin)

    def _initiate(self, request: Mapping[str, Any], admin: bool) -> dict[str, Any]:
        pool_id = str(request.get("UserPoolId") if admin else self.cognito.pool_id)
        client_id = str(request.get("ClientId", ""))
        if CUSTOM_AUTH not in self._client_flows(pool_id, client_id):
            raise CognitoError("InvalidParameterException", "Custom auth flow is not enabled for this client.")
        username = (request.get("AuthParameters") or {}).get("USERNAME")
        if not isinstance(username, str) or not username:
            raise CognitoError("InvalidParameterException", "Missing required parameter USERNAME")
        attributes, found = self._user(pool_id, username)
        return self._next(_SignIn(pool_id, client_id, username, attributes, found), client_metadata=None)

    def _respond(self, request: Mapping[str, Any], admin: bool) -> dict[str, Any]:
        token = request.get("Session")
        with self._guard:
            signin = self._signins.pop(token, None) if isinstance(token, str) else None  # a session is used once
        if signin is None:
            raise _refused("Invalid session for the user.")
        if time.monotonic() >= signin.expires_at:
            raise _refused("Invalid session for the user, session is expired.")
        responses = request.get("ChallengeResponses") or {}
        if (
            request.get("ClientId") != signin.client_id
            or (admin and request.get("UserPoolId") != signin.pool_id)
            or responses.get("USERNAME") != signin.username
        ):
            raise _refused("Invalid session for the user.")
        metadata = request.get("ClientMetadata") or {}
        verified = self._trigger(
            VERIFY,
            signin,
            {
                "privateChallengeParameters": signin.private,
                "challengeAnswer": responses.get("ANSWER", ""),
                "clientMetadata": metadata,
                "userNotFound": not signin.user_found,
            },
            {"answerCorrect": None},
        )
        signin.session.append(
            {
                "challengeName": signin.challenge,
                "challengeResult": verified.get("answerCorrect") is True,
                "challengeMetadata": signin.metadata,
            }
        )
        return self._next(signin, client_metadata=metadata)

    def _next(self, signin: _SignIn, client_metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        """Define decides; then the tokens, a refusal, or Create's next challenge under a new session."""
        given = {} if client_metadata is None else {"clientMetadata": dict(client_metadata)}
        defined = self._trigger(
            DEFINE,
            signin,
            {"session": signin.session, "userNotFound": not signin.user_found, **given},
            {"challengeName": None, "issueTokens": None, "failAuthentication": None},
        )
        if defined.get("failAuthentication") is True:
            raise _refused()
        if defined.get("issueTokens") is True:
            if not signin.user_found:
                raise _refused()
            tokens = self.cognito.tokens_for(signin.username, signin.client_id)
            return {"ChallengeParameters": {}, "AuthenticationResult": tokens}
        challenge = defined.get("challengeName")
        if challenge != CUSTOM_CHALLENGE:
            raise CognitoError(
                "InvalidLambdaResponseException", f"the local Cognito runs CUSTOM_CHALLENGE only, not {challenge}"
            )
        created = self._trigger(
            CREATE,
            signin,
            {"challengeName": challenge, "session": signin.session, "userNotFound": not signin.user_found, **given},
            {"publicChallengeParameters": None, "privateChallengeParameters": None, "challengeMetadata": None},
        )
        signin.challenge = challenge
        signin.private = dict(created.get("privateChallengeParameters") or {})
        signin.metadata = created.get("challengeMetadata")
        public = dict(created.get("publicChallengeParameters") or {})
        return {
            "ChallengeName": challenge,
            "Session": self._keep(signin),
            "ChallengeParameters": {**public, "USERNAME": signin.username},
        }

    def _keep(self, signin: _SignIn) -> str:
        token = secrets.token_urlsafe(96)
        now = time.monotonic()
        signin.expires_at = now + SESSION_VALIDITY_S
        with self._guard:
            for old in [key for key, kept in self._signins.items() if kept.expires_at <= now]:
                del self._signins[old]
            self._signins[token] = signin
        return token

    def _trigger(self, trigger: str, signin: _SignIn, request: Mapping[str, Any], response: Event) -> dict[str, Any]:
        """The trigger's `response`, as its function answered Cognito's event; UserLambdaValidationException if it
        failed (with the last line of its error, as Cognito quotes the function's errorMessage)."""
        event = {
            "version": "1",
            "region": REGION,
            "userPoolId": signin.pool_id,
            "userName": signin.username,
            "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": signin.client_id},
            "triggerSource": f"{trigger}_Authentication",
            "request": {"userAttributes": signin.attributes, **request},
            "response": response,
        }
        try:
            answered = self.invoke(trigger, event)
        except Exception as failure:
            lines = [line.strip() for line in str(failure).splitlines() if line.strip()]
            reason = lines[-1] if lines else type(failure).__name__
            raise CognitoError("UserLambdaValidationException", f"{trigger} failed with error {reason}.") from None
        found = answered.get("response") if isinstance(answered, dict) else None
        if not isinstance(found, dict):
            raise CognitoError("InvalidLambdaResponseException", f"Invalid {trigger} Lambda response")
        return found

    def _client_flows(self, pool_id: str, client_id: str) -> set[str]:
        """The client's ExplicitAuthFlows as flows (ALLOW_CUSTOM_AUTH is CUSTOM_AUTH)."""
        try:
            described = self.cognito.client.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
        except self.cognito.client.exceptions.ResourceNotFoundException:
            raise CognitoError("ResourceNotFoundException", "User pool client does not exist.") from None
        flows = described["UserPoolClient"].get("ExplicitAuthFlows", [])
        return {str(flow).removeprefix("ALLOW_") for flow in flows}

    def _user(self, pool_id: str, username: str) -> tuple[dict[str, str], bool]:
        """The user's attributes as Cognito hands them to a trigger, and whether the user exists."""
        try:
            user = self.cognito.client.admin_get_user(UserPoolId=pool_id, Username=username)
        except self.cognito.client.exceptions.UserNotFoundException:
            return {}, False
        attributes = {item["Name"]: item["Value"] for item in user.get("UserAttributes", [])}
        return attributes | {"cognito:user_status": str(user.get("UserStatus", ""))}, True


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        found = json.loads(body or b"{}")
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def environment(front_port: int) -> dict[str, str]:
    """What the Lambda environments need for sign-in by phone: the local pool's ids (as the template gives them
    from the stack), and this front as their Cognito (boto3's service-specific endpoint variable)."""
    return PoolIds.expected().environment() | {
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": f"http://127.0.0.1:{front_port}"
    }


class TriggerEnvironments:
    """The user pool's trigger functions (template.yaml's LambdaConfig), in Lambda environments of their own: in
    AWS each function has its own; and a route function waiting on Cognito must never wait for its own pool's
    environment to run the trigger Cognito is waiting on."""

    def __init__(self, functions: Mapping[str, Function], environ: dict[str, str], size: int = 2) -> None:
        self.functions = dict(functions)
        modules = sorted({function.module for function in self.functions.values()})
        self.pool = EnvironmentPool(environ, size=size, preload=modules)

    def invoke(self, trigger: str, event: Event) -> Any:
        if trigger not in self.functions:
            raise FunctionFailed(f"the user pool has no {trigger} trigger in template.yaml")
        return self.pool.invoke(self.functions[trigger], event)

    def warm(self) -> None:
        self.pool.warm(1)

    def pids(self) -> list[int]:
        return self.pool.pids()

    def close(self) -> None:
        self.pool.close()
