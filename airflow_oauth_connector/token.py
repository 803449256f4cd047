"""Token state: a parsed token response, its expiry, and a repr that never shows a secret."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from airflow_oauth_connector.exceptions import TokenEndpointError, TokenResponseError

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

    def with_origin(self, origin: str | None) -> Token:
        return dataclasses.replace(self, origin=origin)

    def needs_refresh(self, now: float, leeway: float) -> bool:
        """
        True when the token expires within ``leeway`` seconds of ``now``.

        The leeway is capped at half the token's lifetime, so a short-lived token (say 30 s, with the default
        60 s leeway) is still used for the first half of its life instead of being renewed on every call.
        """
        if self.expires_at is None:
            return False
        if self.issued_at:
            leeway = min(leeway, max(0.0, self.expires_at - self.issued_at) / 2)
        return now + leeway >= self.expires_at

    def expires_in(self, now: float) -> float | None:
        return None if self.expires_at is None else self.expires_at - now

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
        )

    @classmethod
    def from_payload(
        cls,
        payload: Mapping[str, Any],
        *,
        now: float,
        default_lifetime: float | None,
        previous_refresh_token: str | None = None,
    ) -> Token:
        """
        Build a token from a parsed token-endpoint payload.

        ``expires_in`` may be a number, a numeric string or absent (``default_lifetime`` then applies).
        A refresh response without a new refresh token keeps ``previous_refresh_token`` (RFC 6749 6).
        """
        access_token = payload.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            keys = ", ".join(sorted(str(k) for k in payload)) or "none"
            raise TokenResponseError(f"Token response has no 'access_token' (keys present: {keys})")
        token_type = payload.get("token_type")
        lifetime = _parse_expires_in(payload.get("expires_in"))
        if lifetime is None:
            lifetime = default_lifetime
        refresh_token = payload.get("refresh_token")
        scope = payload.get("scope")
        if isinstance(scope, list):
            scope = " ".join(str(s) for s in scope)
        return cls(
            access_token=access_token,
            token_type=_normalise_token_type(token_type),
            expires_at=None if lifetime is None else now + lifetime,
            refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else previous_refresh_token,
            scope=scope if isinstance(scope, str) and scope else None,
            issued_at=now,
        )


def refresh_origin(refresh_token: str | None) -> str | None:
    """A short, non-reversible fingerprint of a refresh token (to tell which grant a chain descends from)."""
    if not refresh_token:
        return None
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:24]


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


def parse_token_body(body: bytes, content_type: str, status_code: int) -> dict[str, Any]:
    """
    Decode a token-endpoint body: JSON, or form-encoded (some providers still answer that way).

    Raises :class:`TokenEndpointError` for an OAuth error payload and :class:`TokenResponseError` for a
    body that is neither (an HTML error page, junk).
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
    error = payload.get("error")
    if isinstance(error, str) and error:
        description = payload.get("error_description")
        raise TokenEndpointError.create(
            error, _excerpt(description) if isinstance(description, str) else None, status_code
        )
    if status_code >= 400:
        raise TokenResponseError(
            f"Token endpoint answered HTTP {status_code} without an OAuth error code", status_code=status_code
        )
    return payload


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


def _excerpt(text: str) -> str:
    clean = " ".join(text.split())
    return clean if len(clean) <= _MAX_BODY_EXCERPT * 3 else clean[: _MAX_BODY_EXCERPT * 3] + "..."
