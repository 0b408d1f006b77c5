"""The checks API Gateway's JWT authorizer makes before a protected route's function runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt


class InvalidToken(Exception):
    """Missing, malformed, wrongly signed, expired or meant for another issuer or client."""


@dataclass
class JwtVerifier:
    issuer: str
    audiences: tuple[str, ...]  # app client ids: an access token's client_id or an id token's aud
    jwks_url: str
    leeway_s: int = 0

    def __post_init__(self) -> None:
        # Keys are fetched once and cached, as API Gateway caches the issuer's JWKS.
        self._keys = jwt.PyJWKClient(self.jwks_url, cache_keys=True, timeout=5)

    def claims(self, authorization: str | None) -> dict[str, Any]:
        """The verified claims of an `Authorization: Bearer <JWT>` header, or InvalidToken."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("missing bearer token")
        try:
            key = self._keys.get_signing_key_from_jwt(token.strip())
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from error
        audience = claims.get("client_id") if claims.get("token_use") == "access" else claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(candidate in self.audiences for candidate in audiences):
            raise InvalidToken("token is for another client")
        return claims
