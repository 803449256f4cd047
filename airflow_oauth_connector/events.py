"""
What crosses a deferral as JSON: a response's kept parts, and an error's type and constructor arguments.

The trigger's event goes through the metadata database as JSON, so nothing here is pickled. An error of
the provider (an :class:`~airflow_oauth_connector.exceptions.OAuthConnectorError`) travels as its class
name and the arguments it was built with (strings redacted: no URL query, bounded length), and comes back
as the same class, so ``except InvalidGrantError`` matches in the task as it would without deferral.
Anything else (or an error whose arguments are not plain JSON) comes back as
:class:`~airflow_oauth_connector.exceptions.DeferredCallFailed` with the original type name and message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from airflow_oauth_connector.exceptions import DeferredCallFailed, OAuthConnectorError
from airflow_oauth_connector.redaction import redact

if TYPE_CHECKING:
    import httpx

#: Response headers a page needs after the deferral (pagination reads ``Link``).
KEPT_HEADERS = ("Content-Type", "Link", "Retry-After", "Location")
_MESSAGE_LIMIT = 1000


def response_to_event(response: requests.Response | httpx.Response) -> dict[str, Any]:
    """The JSON-serialisable parts of a response (requests' or httpx') that the task needs after the deferral."""
    headers = response.headers
    if isinstance(response, requests.Response):
        reason, url = response.reason, response.url
        method = response.request.method if response.request is not None else None
        encoding = response.encoding
    else:
        reason, url, method = response.reason_phrase, str(response.url), response.request.method
        encoding = get_encoding_from_headers(headers)  # what requests would have chosen
    return {
        "status_code": response.status_code,
        "reason": reason,
        "url": url,
        "method": method,
        "headers": {k: headers[k] for k in KEPT_HEADERS if k in headers},
        "body": response.content.decode(encoding or "utf-8", errors="replace"),
    }


def response_from_event(payload: dict[str, Any]) -> requests.Response:
    """Rebuild a ``requests.Response`` (status, URL, kept headers, body) from :func:`response_to_event`."""
    response = requests.Response()
    response.status_code = int(payload["status_code"])
    response.reason = payload.get("reason") or ""
    response.url = payload.get("url") or ""
    response.headers = CaseInsensitiveDict(payload.get("headers") or {})
    response._content = str(payload.get("body") or "").encode("utf-8")
    response.encoding = "utf-8"
    prepared = requests.PreparedRequest()
    prepared.method = payload.get("method")
    prepared.url = response.url
    response.request = prepared
    return response


def error_to_event(exc: BaseException) -> dict[str, Any]:
    """The trigger's error event: type name and message (as before), plus how to rebuild a provider error."""
    event: dict[str, Any] = {
        "status": "error",
        "error_type": type(exc).__name__,
        "message": redact(str(exc), limit=_MESSAGE_LIMIT, folded=False),
    }
    built = getattr(exc, "arguments", None) if isinstance(exc, OAuthConnectorError) else None
    if built is not None:
        args, kwargs = built
        record = {"class": _class_path(type(exc)), "args": _clean(list(args)), "kwargs": _clean(dict(kwargs))}
        if _is_json(record):
            event["error"] = record
    return event


def error_from_event(event: dict[str, Any]) -> OAuthConnectorError:
    """The exception an error event stands for: the provider's own class if known, else DeferredCallFailed."""
    record = event.get("error")
    if isinstance(record, dict):
        cls = _provider_class(str(record.get("class")))
        if cls is not None:
            try:
                error: OAuthConnectorError = cls(*list(record.get("args") or []), **dict(record.get("kwargs") or {}))
                return error
            except Exception:  # noqa: S110 - arguments of another version of the class: fall back
                pass
    return DeferredCallFailed(str(event.get("error_type")), str(event.get("message")))


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _provider_class(path: str) -> type[OAuthConnectorError] | None:
    """A subclass of OAuthConnectorError by its dotted path, among classes already imported (never imports)."""
    for cls in _subclasses(OAuthConnectorError):
        if _class_path(cls) == path:
            return cls
    return None


def _subclasses(cls: type[OAuthConnectorError]) -> Iterator[type[OAuthConnectorError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _subclasses(sub)


def _clean(value: Any) -> Any:
    """Strings redacted (no URL query strings; bounded), containers walked; other values as they are."""
    if isinstance(value, str):
        return redact(value, limit=_MESSAGE_LIMIT, folded=False)
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    return value


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
