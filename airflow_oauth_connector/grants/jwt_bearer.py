"""The JWT bearer grant (RFC 7523 2.1): sign an assertion with a service-account key, via joserfc."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import import_key

from airflow_oauth_connector.exceptions import ProfileError
from airflow_oauth_connector.profile import JwtBearer, OAuthProfile

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
KeyType = Literal["RSA", "EC", "OKP"]
_KEY_TYPES: dict[str, KeyType] = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def assertion(profile: OAuthProfile, token_url: str, *, now: float | None = None) -> str:
    """
    A signed assertion with ``iss``, ``sub``, ``aud``, ``iat``, ``exp``, ``jti`` (and ``scope`` when the
    provider wants it as a claim, like Google), ``kid`` in the header when known.
    """
    settings = profile.jwt
    if settings is None:
        raise ProfileError(profile.conn_id, "grant_type", "the JWT bearer grant needs a service-account key")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.audience or token_url,
        "iat": issued,
        "exp": issued + int(settings.lifetime),
        "jti": uuid.uuid4().hex,
    }
    if settings.subject:
        claims["sub"] = settings.subject
    if settings.scope_in_claim and profile.scope:
        claims["scope"] = profile.scope
    claims.update(settings.claims)
    header: dict[str, Any] = {"alg": settings.algorithm, "typ": "JWT"}
    if settings.key_id:
        header["kid"] = settings.key_id
    return jwt.encode(header, claims, _signing_key(profile.conn_id, settings), algorithms=[settings.algorithm])


def grant_params(profile: OAuthProfile, token_url: str) -> dict[str, str]:
    """The token request of the JWT bearer grant."""
    params = {"grant_type": GRANT_TYPE, "assertion": assertion(profile, token_url)}
    if profile.scope and profile.jwt is not None and not profile.jwt.scope_in_claim:
        params["scope"] = profile.scope
    return params


def _signing_key(conn_id: str, settings: JwtBearer) -> Any:
    if settings.signing_key is not None:  # parsed (and decrypted) with the profile
        return settings.signing_key
    key_type = _KEY_TYPES.get(settings.algorithm[:2])
    if key_type is None:
        raise ProfileError(conn_id, "jwt_algorithm", f"unsupported algorithm {settings.algorithm[:20]!r}")
    try:
        return import_key(settings.private_key, key_type)
    except (JoseError, ValueError, TypeError):
        # The key's content is never part of the message (nor of the chained exception).
        raise ProfileError(
            conn_id,
            "password",
            f"the service-account key is not a valid {key_type} private key for {settings.algorithm} "
            f"(content not shown); paste the whole key file",
        ) from None
