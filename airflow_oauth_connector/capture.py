"""Values captured at authorization: callback query parameters and one post-authorization API call.

A grant without a person (JWT bearer, client credentials) makes the post-authorization call after each new
token instead (:func:`after_grant`): DocuSign's JWT grant learns the account's base URI from /oauth/userinfo.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Protocol

import requests

from airflow_oauth_connector.exceptions import CaptureError
from airflow_oauth_connector.profile import OAuthProfile, fill_placeholders
from airflow_oauth_connector.token import Token, lookup

log = logging.getLogger(__name__)

_MAX_ANSWER = 256 * 1024
_MAX_VALUE = 2048


def callback_values(profile: OAuthProfile, params: Mapping[str, str]) -> dict[str, str]:
    """The callback query parameters the profile keeps (``realmId``); a missing one is an error."""
    values: dict[str, str] = {}
    for name in profile.capture_callback:
        value = params.get(name)
        if not value:
            raise CaptureError(
                f"Connection {profile.conn_id!r}: the provider's redirect carries no {name!r} parameter, which "
                f"the connection needs (capture_callback); nothing was stored. Authorize again"
            )
        values[name] = _bounded(profile, name, value)
    return values


def post_authorize_values(
    profile: OAuthProfile, token: Token, session: requests.Session | None = None
) -> dict[str, str]:
    """GET the profile's post-authorization URL with the new token; the values its JSON answer holds."""
    call = profile.post_authorize
    if call is None:
        return {}
    url = fill_placeholders(profile.conn_id, call.url, token.captured, url=True)
    value = f"{profile.header_prefix} {token.access_token}" if profile.header_prefix else token.access_token
    headers = {"Accept": "application/json", profile.header_name: value}
    http = session or requests.Session()
    try:
        response = http.get(
            url,
            headers=headers,
            timeout=profile.timeout,
            verify=profile.verify,
            cert=profile.cert,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise CaptureError(
            f"Connection {profile.conn_id!r}: the post-authorization call to {url} failed ({type(exc).__name__}); "
            f"nothing was stored. {_again(profile)}"
        ) from None
    if not response.ok or len(response.content) > _MAX_ANSWER:
        raise CaptureError(
            f"Connection {profile.conn_id!r}: the post-authorization call to {url} answered HTTP "
            f"{response.status_code}; nothing was stored. Check the granted scopes and {_again(profile).lower()}"
        )
    try:
        answer = json.loads(response.content)
    except ValueError:
        raise CaptureError(f"Connection {profile.conn_id!r}: {url} did not answer JSON; nothing was stored") from None
    values: dict[str, str] = {}
    for name, path in call.capture.items():
        found = lookup(answer, path)
        if not isinstance(found, (str, int, float)) or isinstance(found, bool) or str(found) == "":
            raise CaptureError(
                f"Connection {profile.conn_id!r}: the answer of {url} has no {path!r} for {name!r} (does the "
                f"account have access to at least one organisation or site?); nothing was stored"
            )
        values[name] = _bounded(profile, name, str(found))
    log.info("Connection %r: captured %s after authorization", profile.conn_id, ", ".join(sorted(values)))
    return values


class _HasSession(Protocol):
    session: requests.Session


def complete(profile: OAuthProfile, token: Token, callback_params: Mapping[str, str], client: _HasSession) -> Token:
    """
    ``token`` with the callback parameters and the post-authorization call's values it must keep; the call
    goes through ``client``'s session (the token client's: same TLS settings).
    """
    return after_grant(profile, token.with_captured(callback_values(profile, callback_params)), client)


def after_grant(profile: OAuthProfile, token: Token, client: _HasSession) -> Token:
    """
    A new token of a grant without a person, with the values of the profile's post-authorization call (also
    :func:`complete`'s last step, after the callback's values).
    """
    if profile.post_authorize is None:
        return token
    return token.with_captured(post_authorize_values(profile, token, client.session))


def _again(profile: OAuthProfile) -> str:
    return "Authorize again" if profile.grant_type.needs_person else "Try again"


def _bounded(profile: OAuthProfile, name: str, value: str) -> str:
    if len(value) > _MAX_VALUE or any(ch in value for ch in "\r\n\0"):
        raise CaptureError(
            f"Connection {profile.conn_id!r}: the captured value {name!r} is malformed; nothing was stored"
        )
    return value
