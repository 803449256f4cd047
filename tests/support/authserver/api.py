"""Protected demo REST API (``/api/...``).

Tokens are validated by django-oauth-toolkit itself (``OAuthLibCore.verify_request``),
from the ``Authorization: Bearer`` header or an ``access_token`` query/form
parameter.  Failures give ``401`` with ``WWW-Authenticate: Bearer
error="invalid_token"``; a valid token without the ``write`` scope on a
modifying request gives ``403`` with ``error="insufficient_scope"``.
"""

from __future__ import annotations

import base64
import calendar
import functools
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_backends import get_oauthlib_core

from .stats import STORE

REALM = "demo-api"
DEFAULT_TOTAL = 95
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
MAX_TOTAL = 100_000
MAX_SLOW_SECONDS = 10.0
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
HIDDEN_QUERY = ("access_token",)


def _challenge(error: str, description: str, status: int, scope: str | None = None) -> JsonResponse:
    parts = [f'realm="{REALM}"', f'error="{error}"', f'error_description="{description}"']
    if scope:
        parts.append(f'scope="{scope}"')
    body: dict[str, Any] = {"error": error, "error_description": description}
    resp = JsonResponse(body, status=status)
    resp["WWW-Authenticate"] = "Bearer " + ", ".join(parts)
    return resp


def protected(write_scope_for_unsafe: bool = False) -> Callable:
    """Decorator: validate the access token with DOT, attach it to the request."""

    def decorator(view: Callable) -> Callable:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            core = get_oauthlib_core()
            valid, oauth_request = core.verify_request(request, scopes=[])
            if not valid:
                STORE.add_api_request(request.path, None)
                has_header = request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("bearer ")
                has_param = "access_token" in request.GET or "access_token" in request.POST
                desc = (
                    "The access token is missing, invalid, revoked or expired"
                    if (has_header or has_param)
                    else "No access token was provided"
                )
                return _challenge("invalid_token", desc, 401)
            token = oauth_request.access_token
            request.oauth_token = token
            request.oauth_client = oauth_request.client
            request.oauth_user = oauth_request.user
            STORE.add_api_request(request.path, oauth_request.client.client_id)
            if write_scope_for_unsafe and request.method not in SAFE_METHODS and not token.allow_scopes(["write"]):
                return _challenge("insufficient_scope", "The write scope is required", 403, scope="write")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _token_via(request: HttpRequest) -> str:
    if request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("bearer "):
        return "header"
    if "access_token" in request.GET:
        return "query"
    return "body"


@protected()
def whoami(request: HttpRequest) -> JsonResponse:
    token = request.oauth_token
    user = request.oauth_user
    return JsonResponse(
        {
            "client_id": request.oauth_client.client_id,
            "user": user.get_username() if user is not None and user.is_authenticated else None,
            "scope": token.scope,
            "scopes": token.scope.split(),
            "expires": token.expires.isoformat(),
            "token_via": _token_via(request),
        }
    )


def _header_names(request: HttpRequest) -> list[str]:
    names = []
    for key in request.META:
        if key.startswith("HTTP_"):
            names.append(key[5:].replace("_", "-").title())
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and request.META[key]:
            names.append(key.replace("_", "-").title())
    return sorted(names)


def _query(request: HttpRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in request.GET:
        values = request.GET.getlist(name)
        if name in HIDDEN_QUERY:
            values = ["<redacted>"] * len(values)
        out[name] = values[0] if len(values) == 1 else values
    return out


@protected(write_scope_for_unsafe=True)
def echo(request: HttpRequest) -> JsonResponse:
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return JsonResponse({"error": "method_not_allowed"}, status=405)
    ctype = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    raw = request.body
    json_body: Any = None
    form: dict[str, Any] | None = None
    text: str | None = None
    if ctype == "application/json" or (ctype.endswith("+json")):
        try:
            json_body = json.loads(raw or b"null")
        except ValueError:
            return JsonResponse({"error": "invalid_json"}, status=400)
    elif ctype == "application/x-www-form-urlencoded":
        form = {}
        for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            if name in HIDDEN_QUERY:
                value = "<redacted>"
            form.setdefault(name, []).append(value)
        form = {k: (v[0] if len(v) == 1 else v) for k, v in form.items()}
    elif raw:
        text = raw.decode("utf-8", "replace")[:10_000]
    return JsonResponse(
        {
            "method": request.method,
            "path": request.path,
            "content_type": ctype or None,
            "json": json_body,
            "form": form,
            "text": text,
            "query": _query(request),
            "headers": _header_names(request),
            "test_headers": {
                k[5:].replace("_", "-").lower(): v for k, v in request.META.items() if k.startswith("HTTP_X_TEST_")
            },
            "client_id": request.oauth_client.client_id,
        }
    )


def _int_param(request: HttpRequest, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.GET.get(name, "")
    if raw == "":
        return default
    value = int(raw)  # ValueError handled by caller
    if value < lo or value > hi:
        raise ValueError(f"{name} must be between {lo} and {hi}")
    return value


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    padded = cursor + "=" * (-len(cursor) % 4)
    text = base64.urlsafe_b64decode(padded.encode()).decode()
    if not text.startswith("o:"):
        raise ValueError("bad cursor")
    return int(text[2:])


def _url_with(request: HttpRequest, **changes: Any) -> str:
    """Absolute URL of this request with some query params replaced.

    The ``access_token`` query parameter (if the client used it) is dropped, as
    real APIs do: the client has to re-authenticate follow-up requests itself.
    """
    params = [(k, v) for k, v in request.GET.items() if k not in changes and k not in HIDDEN_QUERY]
    params += [(k, str(v)) for k, v in changes.items() if v is not None]
    return request.build_absolute_uri(request.path) + "?" + urlencode(params)


@protected()
def items(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return JsonResponse({"error": "method_not_allowed"}, status=405)
    try:
        total = _int_param(request, "total", DEFAULT_TOTAL, 0, MAX_TOTAL)
        style = request.GET.get("style", "")
        if not style:
            if "cursor" in request.GET:
                style = "cursor"
            elif "offset" in request.GET:
                style = "offset"
            else:
                style = "page"

        def record(i: int) -> dict[str, Any]:
            return {"id": i, "name": f"item-{i}"}

        if style == "page":
            page = _int_param(request, "page", 1, 1, 10**9)
            per_page = _int_param(request, "per_page", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
            start = (page - 1) * per_page
            data = [record(i) for i in range(start + 1, min(start + per_page, total) + 1)]
            return JsonResponse({"items": data, "page": page, "per_page": per_page, "total": total})
        if style == "offset":
            offset = _int_param(request, "offset", 0, 0, 10**9)
            limit = _int_param(request, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
            data = [record(i) for i in range(offset + 1, min(offset + limit, total) + 1)]
            return JsonResponse({"items": data, "offset": offset, "limit": limit, "total": total})
        if style == "cursor":
            cursor = request.GET.get("cursor", "")
            offset = _decode_cursor(cursor) if cursor else 0
            limit = _int_param(request, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
            end = min(offset + limit, total)
            data = [record(i) for i in range(offset + 1, end + 1)]
            next_cursor = _encode_cursor(end) if end < total else None
            return JsonResponse({"items": data, "next_cursor": next_cursor, "limit": limit})
        if style in ("next_url", "link_header"):
            page = _int_param(request, "page", 1, 1, 10**9)
            per_page = _int_param(request, "per_page", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
            start = (page - 1) * per_page
            data = [record(i) for i in range(start + 1, min(start + per_page, total) + 1)]
            has_next = start + per_page < total
            next_url = _url_with(request, page=page + 1, per_page=per_page) if has_next else None
            if style == "next_url":
                return JsonResponse({"data": data, "links": {"next": next_url}})
            resp = JsonResponse(data, safe=False)
            links = [f'<{_url_with(request, page=1, per_page=per_page)}>; rel="first"']
            if next_url:
                links.insert(0, f'<{next_url}>; rel="next"')
            resp["Link"] = ", ".join(links)
            return resp
    except (ValueError, UnicodeDecodeError) as exc:
        return JsonResponse({"error": "invalid_request", "error_description": str(exc)}, status=400)
    return JsonResponse(
        {
            "error": "invalid_request",
            "error_description": "style must be page, offset, cursor, next_url or link_header",
        },
        status=400,
    )


@protected()
def status(request: HttpRequest, code: int) -> JsonResponse:
    if code < 200 or code > 599:
        return JsonResponse({"error": "status must be 200..599"}, status=400)
    if code == 204:
        return HttpResponse(status=204)
    resp = JsonResponse({"status": code, "message": f"demo status {code}"}, status=code)
    retry_after = request.GET.get("retry_after")
    if retry_after is not None and retry_after.isdigit():
        resp["Retry-After"] = retry_after
    return resp


@protected()
def slow(request: HttpRequest) -> JsonResponse:
    try:
        seconds = float(request.GET.get("seconds", "1"))
    except ValueError:
        return JsonResponse({"error": "seconds must be a number"}, status=400)
    seconds = max(0.0, min(seconds, MAX_SLOW_SECONDS))
    time.sleep(seconds)
    return JsonResponse({"slept": seconds})


RECORDS_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z
MAX_RECORD_PAD = 10_000


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _landing_record(i: int, rev: int, pad: int, new_field_from: int, text_from: int) -> dict[str, Any]:
    """Record ``i`` of revision ``rev``: updated_at grows with id and revision (the incremental cursor)."""
    record: dict[str, Any] = {
        "id": i,
        "name": f"record-{i}" + (f"-rev{rev}" if rev > 1 else ""),
        "amount": i * 1.5 if text_from == 0 or i < text_from else f"{i * 1.5} EUR",
        "active": i % 2 == 0,
        "updated_at": _iso(RECORDS_EPOCH + (rev - 1) * 86_400 + i * 60),
        "tags": ["t", str(i % 5)],
        "address": {"city": f"city-{i % 7}", "zip": f"{10000 + i}"},
    }
    if new_field_from and i >= new_field_from:
        record["tier"] = "gold"
    if pad:
        record["payload"] = "x" * pad
    return record


@protected()
def records(request: HttpRequest) -> JsonResponse:
    """Records for landing tests: ids ``start``..``start+total-1`` with ``updated_at``, offset/limit pages.

    ``updated_since`` keeps records updated strictly after it; ``rev`` (1, 2, …) renames records and moves
    their ``updated_at`` a day per revision; ``pad`` adds a payload of that many bytes (~1 KB records);
    ``new_field_from``/``text_amount_from`` change the shape from that id on (a new field; ``amount`` as text);
    ``fail_from_offset`` answers 500 for pages at or past that offset (an API failure mid-run).
    """
    try:
        start = _int_param(request, "start", 1, 1, 10**9)
        total = _int_param(request, "total", DEFAULT_TOTAL, 0, 10**7)
        offset = _int_param(request, "offset", 0, 0, 10**9)
        limit = _int_param(request, "limit", 100, 1, 10_000)
        rev = _int_param(request, "rev", 1, 1, 1000)
        pad = _int_param(request, "pad", 0, 0, MAX_RECORD_PAD)
        new_field_from = _int_param(request, "new_field_from", 0, 0, 10**9)
        text_from = _int_param(request, "text_amount_from", 0, 0, 10**9)
        fail_from = _int_param(request, "fail_from_offset", -1, -1, 10**9)
    except ValueError as exc:
        return JsonResponse({"error": "invalid_request", "error_description": str(exc)}, status=400)
    if fail_from >= 0 and offset >= fail_from:
        return JsonResponse({"error": "server_error", "error_description": "demo failure"}, status=500)
    ids = range(start, start + total)
    since = request.GET.get("updated_since")
    if since:
        try:
            since_s = calendar.timegm(time.strptime(since, "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            return JsonResponse({"error": "invalid_request", "error_description": "updated_since format"}, status=400)
        first_kept = max(start, (since_s - RECORDS_EPOCH - (rev - 1) * 86_400) // 60 + 1)
        ids = range(first_kept, start + total)
    chosen = ids[offset : offset + limit]
    data = [_landing_record(i, rev, pad, new_field_from, text_from) for i in chosen]
    return JsonResponse({"records": data, "offset": offset, "limit": limit, "total": len(ids)})


_JOBS: dict[str, int] = {}
_JOBS_LOCK = threading.Lock()


@protected()
def job(request: HttpRequest, name: str) -> JsonResponse:
    """An export job's status: ``running`` until poll ``ready_after``, then ``done``.

    ``reject_poll=N`` answers poll N with 401 ``invalid_token`` although the token is valid (a token the
    provider revoked early): the client must renew its token and ask again. ``reset=1`` restarts the count.
    """
    with _JOBS_LOCK:
        if request.GET.get("reset"):
            _JOBS.pop(name, None)
            return JsonResponse({"job": name, "reset": True})
        polls = _JOBS[name] = _JOBS.get(name, 0) + 1
    try:
        ready_after = _int_param(request, "ready_after", 3, 1, 10**6)
        reject = _int_param(request, "reject_poll", 0, 0, 10**6)
    except ValueError as exc:
        return JsonResponse({"error": "invalid_request", "error_description": str(exc)}, status=400)
    if reject and polls == reject:
        return _challenge("invalid_token", "The access token was revoked", 401)
    state = "done" if polls >= ready_after else "running"
    return JsonResponse({"job": name, "state": state, "polls": polls})
