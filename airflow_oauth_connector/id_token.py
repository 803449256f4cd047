"""
The OpenID Connect ID Token check of a code exchange's answer (OIDC Core 3.1.3.7): nonce, audience, issuer, expiry.

When the scope holds ``openid`` the authorization request carries a fresh ``nonce``
(:func:`~airflow_oauth_connector.grants.build_authorization_request`) and the token endpoint answers with an
``id_token`` that must carry it back. A code injected from another person's authorization comes with that
person's ID Token, whose nonce is not this request's, so checking it refuses the injected grant before any
token of it is kept (OIDC Core 3.1.2.1, 15.5.2).

The ID Token comes straight from the token endpoint over TLS, which OIDC Core 3.1.3.7 step 6 accepts in place
of checking its signature; the claims that bind it to this request and this client are checked with joserfc's
claims registry: ``nonce`` (step 11), ``aud`` holds the client ID (step 3), ``iss`` is the issuer's (step 2, when
the profile's issuer metadata names a concrete one), ``exp`` has not passed and ``iat``/``nbf`` are not in the
future (step 9, with a leeway for clock skew). No claim's value ever appears in a message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc import jws
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwt import JWTClaimsRegistry

from airflow_oauth_connector.exceptions import IdTokenError
from airflow_oauth_connector.profile import OAuthProfile

log = logging.getLogger(__name__)

#: Seconds of clock skew allowed for ``exp``, ``iat`` and ``nbf``.
LEEWAY = 120


@dataclass(frozen=True)
class IdTokenExpectation:
    """What the ID Token of one code exchange must say: its client, the request's nonce, the issuer if known."""

    client_id: str
    nonce: str | None = field(default=None, repr=False)
    """The nonce the authorization request sent (``None``: none was sent, so none is required)."""
    issuer: str | None = None
    """The issuer its metadata names; ``None`` or a template (Microsoft's ``{tenantid}``): ``iss`` unchecked."""

    def registry(self, now: float) -> JWTClaimsRegistry:
        options: dict[str, Any] = {"aud": {"essential": True, "value": self.client_id}}
        if self.nonce is not None:
            options["nonce"] = {"essential": True, "value": self.nonce}
        if self.issuer and "{" not in self.issuer:
            options["iss"] = {"essential": True, "value": self.issuer}
        return JWTClaimsRegistry(now=int(now), leeway=LEEWAY, **options)


def expectation(profile: OAuthProfile, nonce: str | None, issuer: str | None) -> IdTokenExpectation | None:
    """The check for an exchange whose request sent ``nonce`` or asked for ``openid``; ``None``: not OpenID Connect."""
    if nonce is None and not profile.openid:
        return None
    return IdTokenExpectation(client_id=profile.client_id, nonce=nonce, issuer=issuer)


def check_id_token(payload: Mapping[str, Any], expected: IdTokenExpectation, *, now: float) -> None:
    """
    :class:`IdTokenError` unless the token response's ``id_token`` belongs to this request and client.

    An answer without an ``id_token`` passes (the grant still gives an access token; OpenID Connect is the
    server's to speak or not), as does an encrypted one (five segments: this client holds no decryption key).
    """
    raw = payload.get("id_token")
    if raw is None:
        return
    if not isinstance(raw, str):
        raise IdTokenError("id_token", "is not a JWT (the token response's id_token is not a string)")
    if raw.count(".") == 4:
        log.info("The ID Token is encrypted (JWE); its claims are not checked")
        return
    claims = _claims(raw)
    try:
        expected.registry(now).validate(claims)
    except ExpiredTokenError:
        raise IdTokenError("exp", "says it has expired (is the machine's clock right?)") from None
    except MissingClaimError as exc:  # exc.claim lists every missing claim, comma-separated
        raise IdTokenError(exc.claim.split(",")[0], "is missing") from None
    except ClaimError as exc:
        raise IdTokenError(exc.claim, _problem(exc.claim)) from None


def _claims(raw: str) -> dict[str, Any]:
    try:
        claims = json.loads(jws.extract_compact(raw.encode("ascii")).payload)
    except (JoseError, ValueError, UnicodeError):
        raise IdTokenError("id_token", "is not a readable JWT") from None
    if not isinstance(claims, dict):
        raise IdTokenError("id_token", "is not a readable JWT (its payload is not a JSON object)")
    return claims


def _problem(claim: str) -> str:
    """What a mismatch of ``claim`` means, in a user's words (never the claim's value)."""
    return {
        "nonce": "is not the nonce this authorization request sent (a code from another authorization?)",
        "aud": "does not name this connection's client ID",
        "iss": "is not the issuer that the issuer URL's metadata names",
        "iat": "says it was issued in the future (is the machine's clock right?)",
        "nbf": "says it is not valid yet (is the machine's clock right?)",
    }.get(claim, "is not valid")
