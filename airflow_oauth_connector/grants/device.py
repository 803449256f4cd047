"""
Device authorization grant (RFC 8628): find the endpoint, request a user code, poll the token endpoint.

The protocol only: showing the code to a person is the caller's job (the CLI prints it; ``on_wait`` hears
how long polling may take). Failures a person can act on (denied, expired, not approved in time, a
malformed answer) raise :class:`~airflow_oauth_connector.exceptions.AuthorizationError`; other OAuth errors
propagate as their typed :class:`~airflow_oauth_connector.exceptions.TokenEndpointError`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_oauth_connector.exceptions import AuthorizationError, TokenEndpointError
from airflow_oauth_connector.profile import DEVICE_CODE_GRANT, OAuthProfile, check_endpoint_url

if TYPE_CHECKING:
    from airflow_oauth_connector.token import Token
    from airflow_oauth_connector.token_client import TokenClient

DEVICE_GRANT = DEVICE_CODE_GRANT
DEVICE_URL_KEY = "device_url"
SLOW_DOWN_STEP = 5.0
DEFAULT_EXPIRES_IN = 1800.0
DEFAULT_INTERVAL = 5.0


@dataclass(frozen=True)
class DeviceAuthorization:
    """The device authorization response (RFC 8628 3.2); the device code never appears in its repr."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float


def device_endpoint(profile: OAuthProfile, client: TokenClient) -> str:
    """
    The device authorization endpoint: the profile's ``device_url`` (the connection's field, else its
    provider preset's), else the issuer's metadata.
    """
    if profile.device_url:
        return profile.device_url
    url = client.endpoints.device_url
    if not url and profile.issuer_url:
        from airflow_oauth_connector.discovery import fetch_metadata

        found = fetch_metadata(profile, client.session).get("device_authorization_endpoint")
        if isinstance(found, str) and found:
            url = check_endpoint_url(
                profile.conn_id, "device_authorization_endpoint", found, profile.allow_insecure_http
            )
    if not url:
        raise AuthorizationError(
            f"Connection {profile.conn_id!r} has no device authorization endpoint: set its "
            f"'{DEVICE_URL_KEY}' extra, or an issuer URL whose metadata has a device_authorization_endpoint"
        )
    return url


def request_device_authorization(profile: OAuthProfile, client: TokenClient, device_url: str) -> DeviceAuthorization:
    """POST the device authorization request (RFC 8628 3.1) with the client's credentials."""
    params: dict[str, str] = {"client_id": profile.client_id}
    if profile.scope:
        params["scope"] = profile.scope
    payload = client.post_form(device_url, params)
    device_code = payload.get("device_code")
    user_code = payload.get("user_code")
    uri = payload.get("verification_uri") or payload.get("verification_url")  # the latter: older Google
    if not (isinstance(device_code, str) and isinstance(user_code, str) and isinstance(uri, str)):
        keys = ", ".join(sorted(str(k) for k in payload)) or "none"
        raise AuthorizationError(
            f"The device authorization endpoint's answer lacks device_code, user_code or verification_uri "
            f"(keys present: {keys})"
        )
    complete = payload.get("verification_uri_complete")
    return DeviceAuthorization(
        device_code=device_code,
        user_code=user_code,
        verification_uri=uri,
        verification_uri_complete=complete if isinstance(complete, str) and complete else None,
        expires_in=_seconds(payload.get("expires_in"), DEFAULT_EXPIRES_IN),
        interval=max(_seconds(payload.get("interval"), DEFAULT_INTERVAL), 1.0),
    )


def poll_device_token(
    client: TokenClient,
    grant: DeviceAuthorization,
    *,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_wait: Callable[[float], None] | None = None,
) -> Token:
    """Poll with the device code (RFC 8628 3.4/3.5), honouring ``interval`` and ``slow_down``."""
    limit = grant.expires_in if timeout is None else min(timeout, grant.expires_in)
    deadline = clock() + limit
    interval = grant.interval
    if on_wait is not None:
        on_wait(limit)
    while True:
        if clock() + interval > deadline:
            raise AuthorizationError(f"The device code was not approved within {limit:.0f} s; nothing was stored")
        sleep(interval)
        try:
            return client.request_token({"grant_type": DEVICE_GRANT, "device_code": grant.device_code})
        except TokenEndpointError as exc:
            if exc.error == "authorization_pending":
                continue
            if exc.error == "slow_down":
                interval += SLOW_DOWN_STEP
                continue
            if exc.error == "access_denied":
                raise AuthorizationError(
                    "The authorization was denied on the device page; nothing was stored"
                ) from None
            if exc.error == "expired_token":
                raise AuthorizationError("The device code expired before it was approved; nothing was stored") from None
            raise


def _seconds(value: Any, default: float) -> float:
    """A positive, finite number of seconds from a server's answer, else ``default``."""
    if isinstance(value, bool):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 and math.isfinite(number) else default
