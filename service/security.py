"""Who may do what, how often, and the headers every response carries.

- :class:`RateLimiter`: a token bucket per key and process (``CLINNLP_RATE_LIMIT`` requests a minute); over it,
  429 with ``Retry-After``.
- :class:`TokenVerifier`: OpenID Connect bearer tokens (JWTs) from a configured identity provider, checked with
  PyJWT against the provider's keys (a JWKS URL or file): signature, issuer, audience, expiry.
- :func:`secure_headers`: ``no-store`` for API answers (patient text must not sit in caches), ``nosniff``, no
  framing, no referrer, and a Content-Security-Policy.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from pathlib import Path

from service.keys import ALL, Principal

# The page /docs has one inline stylesheet; its hash is allowed, nothing else inline.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


class RateLimiter:
    """Token buckets: each key may send ``per_minute`` requests in a burst, refilled continuously."""

    def __init__(self, per_minute: int):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def allow(self, key: str) -> float:
        """0 if the request may go ahead, else the seconds until it may."""
        if not self.capacity:
            return 0.0
        now = time.monotonic()
        with self.lock:
            tokens, then = self.buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            if tokens >= 1:
                self.buckets[key] = (tokens - 1, now)
                return 0.0
            self.buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class TokenVerifier:
    """Checks OpenID Connect access tokens (JWT) from one identity provider.

    Args:
        issuer: The ``iss`` every token must carry.
        audience: The ``aud`` every token must carry (this service's client id).
        jwks: The provider's keys: an ``https://`` JWKS URL (fetched and cached by PyJWT) or a local JWKS file.

    Scopes come from the token's ``scope`` (space-separated) or ``scp`` (a list) claim, as this service names
    them, optionally prefixed ``clinnlp:`` (``clinnlp:classify``); ``clinnlp:*`` is every operation and jobs.
    """

    ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]

    def __init__(self, issuer: str, audience: str, jwks: str):
        import jwt

        self.issuer, self.audience = issuer, audience
        if jwks.startswith(("https://", "http://")):
            client = jwt.PyJWKClient(jwks, cache_keys=True, lifespan=3600)
            self._key = lambda token: client.get_signing_key_from_jwt(token).key
        else:
            keys = jwt.PyJWKSet.from_json(Path(jwks).read_text(encoding="utf-8"))

            def by_kid(token: str):
                kid = jwt.get_unverified_header(token).get("kid")
                matching = [k for k in keys.keys if kid is None or k.key_id == kid]
                if not matching:
                    raise jwt.InvalidTokenError("no key for this token's kid")
                return matching[0].key

            self._key = by_kid

    def verify(self, token: str) -> Principal | None:
        """The token's principal, or None if it is not valid (any reason: the caller answers 401)."""
        import jwt

        try:
            claims = jwt.decode(token, self._key(token), algorithms=self.ALGORITHMS, audience=self.audience,
                                issuer=self.issuer, options={"require": ["exp", "iss", "aud", "sub"]}, leeway=30)
        except (jwt.PyJWTError, ValueError, OSError):
            return None
        granted = claims.get("scope", "").split() if isinstance(claims.get("scope"), str) else claims.get("scp", [])
        scopes = frozenset(s.removeprefix("clinnlp:") for s in granted if isinstance(s, str))
        if not scopes:
            return None
        digest = hashlib.sha256(f"{claims['iss']}|{claims['sub']}".encode()).hexdigest()[:15]
        return Principal(f"o{digest}", scopes, subject=str(claims["sub"])[:200])


def required_scope(path: str, method: str, operations) -> str | None:
    """The scope a ``/v1`` route needs (None: any valid key, e.g. listing models)."""
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[0] != "v1":
        return None
    if parts[1] == "jobs":
        return "jobs"
    if parts[1] == "admin":
        return "admin"
    if parts[1] in operations and method == "POST":
        return parts[1]
    return None


def secure_headers(response, policy: str = API_POLICY) -> None:
    """Headers for every response: nothing cached, nothing sniffed, framed or referred."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", policy)
    headers["Cache-Control"] = "no-store"
    headers.pop("ETag", None)
    headers.pop("Last-Modified", None)


def scopes_known(operations) -> set[str]:
    return set(operations) | {"jobs", "admin", ALL}
