"""The ABDM gateway's published keys, and the check of the bearer token it signs each request to a HIP with.

The gateway signs with RS256 and publishes its public keys as a JWKS at `{ABDM_GATEWAY_URL}/api/hiecm/gateway/v3/
certs`. They are fetched at the first share an execution environment sees and kept `KEYS_LIFESPAN_S` (PyJWT's
`PyJWKClient`); a token whose `kid` is not among them fetches the set again once (a rotation), at most once every
`REFETCH_COOLDOWN_S`, so tokens naming made-up kids cannot make us fetch the set at their rate.

What is checked: the signature with the key its `kid` names, RS256 only (never `none`, never HMAC with a public key
as the secret), and `exp`, which must be there and not past (`nbf` and `iat` too where the token has them). Not the
issuer nor the audience: ABDM documents neither for the tokens it sends to HIPs (README, "ABDM Scan & Share").
"""

from __future__ import annotations

from typing import Any

import jwt

from opd.errors import DependencyUnavailable, Unauthorized

CERTS_PATH = "/api/hiecm/gateway/v3/certs"
KEYS_LIFESPAN_S = 900  # a key the gateway withdraws stops working here within 15 minutes
REFETCH_COOLDOWN_S = 5.0
FETCH_TIMEOUT_S = 3.0  # the share's answer must reach the gateway within its own timeout
LEEWAY_S = 10  # clock skew between the gateway and us
ALGORITHM = "RS256"


class GatewayKeys:
    """The keys of one gateway, fetched and cached as the module says; `verify` checks a request's bearer token."""

    def __init__(
        self,
        gateway_url: str,
        *,
        lifespan_s: float = KEYS_LIFESPAN_S,
        cooldown_s: float | None = None,  # None: REFETCH_COOLDOWN_S as it is then
        timeout_s: float = FETCH_TIMEOUT_S,
    ) -> None:
        self.certs_url = gateway_url.rstrip("/") + CERTS_PATH
        self._keys = jwt.PyJWKClient(
            self.certs_url,
            cache_jwk_set=True,
            lifespan=lifespan_s,
            timeout=timeout_s,
            cooldown_duration=REFETCH_COOLDOWN_S if cooldown_s is None else cooldown_s,
            headers={"Accept": "application/json"},
        )

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The claims of an `Authorization: Bearer <JWT>` header the gateway signed; Unauthorized for anything else.
        DependencyUnavailable when the keys cannot be fetched and none are kept: nothing can be checked."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("a bearer token signed by the ABDM gateway is required")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the bearer token is not a JWT") from None
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str) or not kid:
            raise Unauthorized(f"the bearer token must be signed {ALGORITHM} with a key the gateway publishes (kid)")
        try:
            key = self._keys.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            if self._kept():  # a kid we do not know, and the gateway cannot be asked again: not one of its keys
                raise Unauthorized("the bearer token's key is not one the ABDM gateway publishes") from None
            raise DependencyUnavailable("abdm", "the ABDM gateway's keys cannot be fetched") from None
        except jwt.PyJWTError:  # no key of that kid, or a key set without usable keys
            raise Unauthorized("the bearer token's key is not one the ABDM gateway publishes") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                leeway=LEEWAY_S,
                options={"require": ["exp"], "verify_aud": False, "verify_iss": False},
            )
        except jwt.PyJWTError as error:
            raise Unauthorized(f"the bearer token is refused: {type(error).__name__}") from None
        return claims

    def _kept(self) -> bool:
        cache = self._keys.jwk_set_cache
        return cache is not None and cache.get() is not None
