"""Refresh token grant (RFC 6749 section 6): the token request's form parameters."""

from __future__ import annotations


def refresh_token_params(refresh_token: str, scope: str | None = None) -> dict[str, str]:
    params = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if scope:
        params["scope"] = scope
    return params
