"""
The one parser of an authorization redirect (the callback), shared by the CLI and the OAuth profiles page.

Checks, in order: ``state`` (when the caller holds the expected value; the plugin matches it server-side
first), an ``error`` answer (``access_denied`` at the consent step, or any other RFC 6749 4.1.2.1 code), a
missing code (in ``code``, or the profile's ``code_param``: Amazon's is ``spapi_oauth_code``). Every
failure is an :class:`~airflow_oauth_connector.exceptions.AuthorizationError` whose message is safe for a
terminal or a page (printable ASCII, cut) and says that nothing was stored. A good answer keeps **all**
query parameters: some providers hand out values only here (QuickBooks' ``realmId``, Amazon's
``spapi_oauth_code``), and :mod:`airflow_oauth_connector.capture` keeps those the connection names.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, urlsplit

from airflow_oauth_connector.exceptions import AuthorizationError
from airflow_oauth_connector.redaction import redact

_ERROR_LIMIT = 57
_DESCRIPTION_LIMIT = 197


@dataclass(frozen=True)
class Callback:
    """A verified redirect: its authorization code and every query parameter it carried (none in reprs)."""

    code: str = field(repr=False)
    params: Mapping[str, str] = field(repr=False)


def query_params(query: str) -> dict[str, str]:
    """A redirect's query string as a dict (blank values kept; a repeated name keeps its last value)."""
    return dict(parse_qsl(query, keep_blank_values=True))


def params_from_url(url: str) -> dict[str, str]:
    """The query parameters of a pasted redirect URL; :class:`AuthorizationError` if it has none."""
    query = urlsplit(url.strip()).query
    if not query:
        raise AuthorizationError("The pasted text is not a redirect URL with query parameters; nothing was stored")
    return query_params(query)


def parse_callback(
    params: Mapping[str, str], *, expected_state: str | None = None, code_param: str = "code"
) -> Callback:
    """The redirect's answer, checked (see the module docstring); else :class:`AuthorizationError`."""
    if expected_state is not None:
        check_state(params.get("state"), expected_state)
    error = params.get("error")
    if error:
        reason = refusal_text(error, params.get("error_description"))
        raise AuthorizationError(f"{reason}; nothing was stored", error=safe_text(error), reason=reason)
    code = params.get(code_param)
    if not code:
        reason = f"The redirect carries neither a {code_param!r} nor an 'error' parameter"
        raise AuthorizationError(f"{reason}; nothing was stored", reason=reason)
    return Callback(code=code, params=MappingProxyType(dict(params)))


def check_state(state: str | None, expected_state: str) -> None:
    if not hmac.compare_digest((state or "").encode(), expected_state.encode()):
        raise AuthorizationError(
            "The redirect's 'state' does not match the authorization request (a stale or forged redirect); "
            "nothing was stored. Start the authorization again"
        )


def refusal_text(error: str, description: str | None) -> str:
    """What to tell a person whose authorization the server refused (``error`` is the OAuth error code)."""
    text = f"The authorization server refused the authorization: {safe_text(error, _ERROR_LIMIT)}"
    if description:
        text += f" ({safe_text(description, _DESCRIPTION_LIMIT)})"
    if error == "access_denied":
        return text + ". Access was denied at the consent step"
    return text


def safe_text(text: str, limit: int = _ERROR_LIMIT) -> str:
    """Provider-supplied text made safe for a terminal or a page: printable ASCII, cut to ``limit``."""
    return redact(text, limit=limit, queries=False, ascii_only=True, folded=False)
