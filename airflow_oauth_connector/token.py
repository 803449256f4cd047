"""Token state: a parsed token response, its expiry, and a repr that never shows a secret."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from airflow_oauth_connector.exceptions import TokenEndpointError, TokenResponseError
from airflow_oauth_connector.profile import ExpiresFormat, OAuthProfile, ResponseMap
from airflow_oauth_connector.redaction import redact

_MAX_BODY_EXCERPT = 80


@dataclass(frozen=True)
class Token:
    """An access token (and maybe a refresh token) with its absolute expiry time."""

    access_token: str = field(repr=False)
    token_type: str = "Bearer"
    expires_at: float | None = None
    """Epoch seconds; ``None`` when the server gave no lifetime and no default applies."""
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    issued_at: float = 0.0
    origin: str | None = None
    """Fingerprint of the connection's refresh token this token's refresh chain started from."""
    captured: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Values kept with the grant (token-response fields, callback parameters, a post-authorization call)."""
    dpop_jwk: Mapping[str, Any] | None = field(default=None, repr=False)
    """The private JWK of the DPoP key this token is bound to (RFC 9449); stored, encrypted, with the token."""
    refresh_expires_at: float | None = None
    """Epoch seconds at which the refresh token expires, as the token response stated (``None``: not stated)."""

    @property
    def is_dpop(self) -> bool:
        return self.token_type.lower() == "dpop"

    def with_dpop_key(self, jwk: Mapping[str, Any] | None) -> Token:
        return dataclasses.replace(self, dpop_jwk=None if jwk is None else MappingProxyType(dict(jwk)))

    def with_origin(self, origin: str | None) -> Token:
        return dataclasses.replace(self, origin=origin)

    def with_captured(self, values: Mapping[str, str]) -> Token:
        """This token with ``values`` added to its captured values (new ones win)."""
        return dataclasses.replace(self, captured=MappingProxyType({**self.captured, **values}))

    def needs_refresh(self, now: float, leeway: float) -> bool:
        """
        True when the token expires within ``leeway`` seconds of ``now``.

        The leeway is capped at half the token's lifetime, so a short-lived token (say 30 s, with the default
        60 s leeway) is still used for the first half of its life instead of being renewed on every call.
        """
        return now >= self.refresh_from(leeway)

    def refresh_from(self, leeway: float) -> float:
        """The time from which :meth:`needs_refresh` is true: the expiry less the (capped) leeway; never: ``inf``."""
        if self.expires_at is None:
            return math.inf
        return self.expires_at - self.effective_leeway(leeway)

    def effective_leeway(self, leeway: float) -> float:
        """``leeway``, capped at half the token's lifetime when the issue time is known."""
        if self.issued_at and self.expires_at is not None:
            return min(leeway, max(0.0, self.expires_at - self.issued_at) / 2)
        return leeway

    def expires_in(self, now: float) -> float | None:
        return None if self.expires_at is None else self.expires_at - now

    def refresh_expired(self, now: float) -> bool:
        """True when the token response stated a lifetime for the refresh token and it has passed."""
        return self.refresh_token is not None and self.refresh_expires_at is not None and self.refresh_expires_at <= now

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for token stores (which encrypt it)."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
            "issued_at": self.issued_at,
            "origin": self.origin,
            "captured": dict(self.captured),
            **({"dpop_jwk": dict(self.dpop_jwk)} if self.dpop_jwk else {}),
            **({"refresh_expires_at": self.refresh_expires_at} if self.refresh_expires_at is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        return cls(
            access_token=str(data["access_token"]),
            token_type=str(data.get("token_type") or "Bearer"),
            expires_at=_optional_float(data.get("expires_at")),
            refresh_token=data.get("refresh_token") or None,
            scope=data.get("scope") or None,
            issued_at=float(data.get("issued_at") or 0.0),
            origin=data.get("origin") or None,
            captured=MappingProxyType({str(k): str(v) for k, v in (data.get("captured") or {}).items()}),
            dpop_jwk=MappingProxyType(dict(data["dpop_jwk"])) if isinstance(data.get("dpop_jwk"), Mapping) else None,
            refresh_expires_at=_optional_float(data.get("refresh_expires_at")),
        )

    @classmethod
    def from_payload(
        cls,
        payload: Mapping[str, Any],
        *,
        now: float,
        default_lifetime: float | None,
        previous_refresh_token: str | None = None,
        mapping: ResponseMap | None = None,
        previous_captured: Mapping[str, str] | None = None,
        previous_refresh_expires_at: float | None = None,
    ) -> Token:
        """
        Build a token from a parsed token-endpoint payload, reading fields where ``mapping`` says.

        The expiry may be seconds (a number or numeric string), an absolute epoch / timestamp, or absent
        (``default_lifetime`` then applies; with the ``fixed`` format it always does). A refresh response
        without a new refresh token keeps ``previous_refresh_token`` (RFC 6749 6); captured values the
        response does not repeat are kept from ``previous_captured``.

        The refresh token's lifetime (``refresh_token_expires_in`` seconds, where ``mapping`` says) is kept as
        ``refresh_expires_at``. A response that does not state it keeps ``previous_refresh_expires_at`` only
        when it keeps the previous refresh token too (the same token, the same expiry); a new refresh token
        whose lifetime is not stated has an unknown one (``None``), never the one of the token it replaced.
        """
        mapping = mapping or ResponseMap()
        access_token = lookup(payload, mapping.access_token)
        if not isinstance(access_token, str) or not access_token:
            keys = ", ".join(sorted(str(k) for k in payload)) or "none"
            raise TokenResponseError(
                f"Token response has no {mapping.access_token!r} (keys present: {keys}); "
                f"if the provider puts it elsewhere, set 'response_map'"
            )
        lifetime = _lifetime(lookup(payload, mapping.expires), mapping.expires_format, now)
        if lifetime is None or mapping.expires_format is ExpiresFormat.FIXED:
            lifetime = default_lifetime
        refresh_token = lookup(payload, mapping.refresh_token)
        if not isinstance(refresh_token, str) or not refresh_token:
            refresh_token = previous_refresh_token
        refresh_lifetime = _parse_expires_in(lookup(payload, mapping.refresh_expires))
        refresh_expires_at: float | None = None
        if refresh_token and refresh_lifetime:
            refresh_expires_at = now + refresh_lifetime
        elif refresh_token and refresh_token == previous_refresh_token:
            refresh_expires_at = previous_refresh_expires_at
        scope = lookup(payload, mapping.scope)
        if isinstance(scope, list):
            scope = " ".join(str(s) for s in scope)
        captured = dict(previous_captured or {})
        for name, path in mapping.capture.items():
            value = lookup(payload, path)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value):
                captured[name] = str(value)
        return cls(
            access_token=access_token,
            token_type=_normalise_token_type(lookup(payload, mapping.token_type)),
            expires_at=None if lifetime is None else now + lifetime,
            refresh_token=refresh_token,
            scope=scope if isinstance(scope, str) and scope else None,
            issued_at=now,
            captured=MappingProxyType(captured),
            refresh_expires_at=refresh_expires_at,
        )


def lookup(payload: Any, path: str) -> Any:
    """
    The value at a dotted ``path`` (``authed_user.access_token``; ``0.tenantId`` indexes a list), or ``None``.

    ``a.b|c`` tries ``a.b`` first, then ``c`` (a provider that nests a field in one answer and not in another).
    """
    if "|" in path:
        for alternative in path.split("|"):
            found = lookup(payload, alternative.strip())
            if found is not None:
                return found
        return None
    value = payload
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def known_secrets(profile: OAuthProfile, token: Token | None = None) -> list[str]:
    """The secrets a text about ``profile`` may contain (client secret, refresh token, user password, private key
    passphrase, and the ``token``'s access and refresh tokens): what a message shown, logged or recorded has
    redacted."""
    values = [profile.client_secret, profile.refresh_token, profile.user_password, profile.key_passphrase]
    if token is not None:
        values += [token.access_token, token.refresh_token]
    return [value for value in values if value]


def refresh_origin(refresh_token: str | None) -> str | None:
    """A short, non-reversible fingerprint of a refresh token (to tell which grant a chain descends from)."""
    if not refresh_token:
        return None
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:24]


def superseded(token: Token, connection_origin: str | None) -> bool:
    """
    The "newest grant wins" rule: ``token`` descends from an older grant than the connection's refresh token.

    ``connection_origin`` is :func:`refresh_origin` of the connection's refresh token (``None``: the connection
    holds none, so nothing supersedes the stored chain). A stored token whose chain started from another
    refresh token is superseded: the refresh token a person put on the connection since (re-authorized, or
    pasted) is the newer grant. A stored token of *unknown* origin (``None``: saved before origins were
    recorded) is not: its chain may have rotated past the connection's refresh token, and replaying that
    older token would make a server with reuse detection revoke the grant.
    """
    return connection_origin is not None and token.origin is not None and token.origin != connection_origin


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _normalise_token_type(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        return "Bearer"
    text = value.strip()
    return "Bearer" if text.lower() == "bearer" else text


def _parse_expires_in(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return number


def _lifetime(value: Any, fmt: ExpiresFormat, now: float) -> float | None:
    """Seconds from ``now`` until the expiry that ``value`` states in format ``fmt`` (``None``: unknown)."""
    if fmt in (ExpiresFormat.SECONDS, ExpiresFormat.FIXED):
        return _parse_expires_in(value)
    if fmt is ExpiresFormat.TIMESTAMP:
        if not isinstance(value, str) or not value.strip():
            return None
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return max(0.0, moment.timestamp() - now)
    epoch = _parse_expires_in(value)
    if epoch is None:
        return None
    if fmt is ExpiresFormat.EPOCH_MS:
        epoch /= 1000.0
    return max(0.0, epoch - now)


def parse_token_body(
    body: bytes, content_type: str, status_code: int, error_map: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """
    Decode a token-endpoint body: JSON, or form-encoded (some providers still answer that way).

    Raises :class:`TokenEndpointError` for an OAuth error payload — also one inside a 2xx answer
    (``{"ok": false, "error": ...}``, ``error=...`` in a form body) and a provider's own error code that
    ``error_map`` translates — and :class:`TokenResponseError` for a body that is neither (an HTML page, junk).
    """
    payload = _decode(body, content_type)
    if payload is None:
        kind = "an HTML page" if b"<html" in body[:512].lower() else "a body that is neither JSON nor form data"
        described = f"HTTP {status_code} with {kind} (content type {content_type or 'unknown'!r})"
        if status_code >= 500 or status_code == 429:
            raise TokenResponseError(
                f"Token endpoint is unavailable: {described}, after the retry policy's attempts; try again later "
                f"or raise 'retry_max_attempts' / 'retry_max_seconds'",
                status_code=status_code,
            )
        raise TokenResponseError(
            f"Token endpoint answered {described}; check the access-token URL", status_code=status_code
        )
    error_map = error_map or {}
    code = _error_code(payload, status_code, error_map)
    description = _error_detail(payload)
    if code:
        raise TokenEndpointError.create(
            error_map.get(code, code), _excerpt(description) if description else None, status_code
        )
    if status_code >= 400:
        detail = f": {_excerpt(description)}" if description else ""
        raise TokenResponseError(
            f"Token endpoint answered HTTP {status_code} without an OAuth error code{detail}", status_code=status_code
        )
    return payload


def _excerpt(text: str) -> str:
    """A server's error text as it goes into an exception: folded, cut (no secret is known here)."""
    return redact(text, limit=_MAX_BODY_EXCERPT * 3, queries=False)


def _error_code(payload: Mapping[str, Any], status_code: int, error_map: Mapping[str, str]) -> str | None:
    """The OAuth error code of an error payload (standard or not), else ``None``."""
    error = payload.get("error")
    if isinstance(error, Mapping):
        error = error.get("code") or error.get("type") or error.get("error")
    if isinstance(error, str) and error:
        return error
    if payload.get("ok") is False or payload.get("success") is False:
        return "error"
    for key in ("status", "code", "errorCode", "error_code"):  # e.g. HubSpot's {"status": "BAD_REFRESH_TOKEN"}
        value = payload.get(key)
        if isinstance(value, str) and value and (value in error_map or status_code >= 400):
            return value
    return None


def _error_detail(payload: Mapping[str, Any]) -> str | None:
    """The human explanation of an error payload, from the standard field or a provider's own."""
    error = payload.get("error")
    candidates = [payload.get(k) for k in ("error_description", "reason", "message", "detail", "error_message")]
    if isinstance(error, Mapping):
        candidates += [error.get("message"), error.get("description")]
    errors = payload.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        candidates.append(errors[0].get("message"))
    return next((c for c in candidates if isinstance(c, str) and c.strip()), None)


def _decode(body: bytes, content_type: str) -> dict[str, Any] | None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) else None
    if "json" in content_type.lower() or not stripped or stripped.startswith("<"):
        return None
    try:
        pairs = parse_qsl(stripped, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    form = dict(pairs)
    return form if ("access_token" in form or "error" in form) else None
