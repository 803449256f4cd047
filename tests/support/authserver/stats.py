"""Server-side request accounting for tests.

``RequestStatsMiddleware`` counts every POST to DOT's token endpoint (by
grant_type and client_id) and keeps the non-secret metadata of the last
requests; ``/test/stats``, ``/test/reset`` and ``/test/token-requests`` expose
it.  The server is a single process (many threads), so an in-memory store
behind a lock is the process-safe place.

Never stored: client secrets, codes, code verifiers, tokens, passwords, device
codes.  Query values of such parameters are replaced by ``"<redacted>"``; of
the body only parameter NAMES are kept, plus the values of a short allow-list
of non-secret parameters (grant_type, scope, audience, ...).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import threading
import time
from collections import Counter, deque
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

TOKEN_PATH = "/o/token/"
DEVICE_AUTHORIZATION_PATH = "/o/device-authorization/"
MAX_RECORDS = 200

SECRET_PARAMS = frozenset(
    {
        "client_secret",
        "code",
        "code_verifier",
        "refresh_token",
        "access_token",
        "id_token",
        "device_code",
        "password",
        "assertion",
        "client_assertion",
        "token",
        "subject_token",
        "actor_token",
    }
)
# Body parameters whose VALUES are safe and useful to record.
BODY_VALUE_ALLOWLIST = frozenset(
    {
        "grant_type",
        "scope",
        "audience",
        "resource",
        "redirect_uri",
        "client_id",
        "code_challenge_method",
        "client_assertion_type",
    }
)
REDACTED = "<redacted>"
#: The address the server is bound to (set at start): the test process on the same host connects from it.
OWN_ADDRESSES: set[str] = set()


def _is_test_name(name: str) -> bool:
    n = name.lower().replace("_", "-")
    return n.startswith("x-test-")


class _Store:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.started = time.time()
            self.token_total = 0
            self.token_errors = 0
            self.by_grant_type: Counter[str] = Counter()
            self.by_client_id: Counter[str] = Counter()
            self.by_grant_and_client: dict[str, Counter[str]] = {}
            self.by_auth_method: Counter[str] = Counter()
            self.by_status: Counter[str] = Counter()
            self.by_error: Counter[str] = Counter()
            self.down_refused = 0
            self.device_authorizations = 0
            self.api_total = 0
            self.api_unauthorized = 0
            self.api_by_client_id: Counter[str] = Counter()
            self.api_by_path: Counter[str] = Counter()
            self.records: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDS)
            self.seq = 0

    def add_token_request(self, record: dict[str, Any]) -> None:
        gt = record["grant_type"] or "<missing>"
        cid = record["client_id"] or "<missing>"
        with self._lock:
            self.seq += 1
            record["seq"] = self.seq
            self.token_total += 1
            if record["status"] != 200:
                self.token_errors += 1
            self.by_grant_type[gt] += 1
            self.by_client_id[cid] += 1
            self.by_grant_and_client.setdefault(gt, Counter())[cid] += 1
            self.by_auth_method[record["auth_method"]] += 1
            self.by_status[str(record["status"])] += 1
            if record.get("error"):
                self.by_error[str(record["error"])] += 1
            self.records.append(record)

    def add_device_authorization(self) -> None:
        with self._lock:
            self.device_authorizations += 1

    def add_api_request(self, path: str, client_id: str | None) -> None:
        with self._lock:
            self.api_total += 1
            if client_id is None:
                self.api_unauthorized += 1
            else:
                self.api_by_client_id[client_id] += 1
            self.api_by_path[path] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "since": self.started,
                "token_requests": {
                    "total": self.token_total,
                    "errors": self.token_errors,
                    "by_grant_type": dict(self.by_grant_type),
                    "by_client_id": dict(self.by_client_id),
                    "by_grant_type_and_client_id": {gt: dict(c) for gt, c in self.by_grant_and_client.items()},
                    "by_auth_method": dict(self.by_auth_method),
                    "by_status": dict(self.by_status),
                    "by_error": dict(self.by_error),
                    "refused_while_down": self.down_refused,
                },
                "device_authorization_requests": self.device_authorizations,
                "api_requests": {
                    "total": self.api_total,
                    "unauthorized": self.api_unauthorized,
                    "by_client_id": dict(self.api_by_client_id),
                    "by_path": dict(self.api_by_path),
                },
            }

    def token_records(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            items = list(self.records)
        return items[-limit:] if limit > 0 else []


STORE = _Store()


class _Outage:
    """Faults of the token endpoint, set through ``POST /test/config``.

    ``until``: the endpoint is "down" until then: it answers 503 (no Retry-After), as a balancer without backends.
    ``refresh_delay``: a refresh-token grant is processed (the token rotated and committed) and its answer then
    held back this many seconds, so that a test can kill the client while its refresh is in flight.
    """

    def __init__(self) -> None:
        self.until = 0.0
        self.refresh_delay = 0.0

    def active(self) -> bool:
        return time.time() < self.until


OUTAGE = _Outage()


def _basic_client_id(request: HttpRequest) -> str | None:
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return "<undecodable>"
    user, _, _ = decoded.partition(":")
    # RFC 6749 section 2.3.1: client id is form-urlencoded before base64.
    return unquote_plus(user)


def _token_request_metadata(request: HttpRequest) -> dict[str, Any]:
    ctype = request.META.get("CONTENT_TYPE", "")
    body_pairs: list[tuple[str, str]] = []
    body_format = "form"
    try:
        raw = request.body  # cached by Django; DOT reads it again later
    except Exception:  # pragma: no cover - defensive
        raw = b""
    if ctype.startswith("application/json"):
        body_format = "json"
        try:
            data = json.loads(raw or b"{}")
            if isinstance(data, dict):
                body_pairs = [(str(k), str(v)) for k, v in data.items()]
        except ValueError:
            pass
    else:
        try:
            body_pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            body_pairs = []
    body = dict(body_pairs)

    basic_id = _basic_client_id(request)
    if basic_id is not None:
        auth_method = "basic"
        client_id = basic_id
    elif "client_secret" in body:
        auth_method = "body"
        client_id = body.get("client_id")
    elif "client_id" in body:
        auth_method = "none"  # public client: client_id only
        client_id = body.get("client_id")
    else:
        auth_method = "missing"
        client_id = None

    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True):
        query.setdefault(name, []).append(REDACTED if name in SECRET_PARAMS else value)

    headers = {}
    for key, value in request.META.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
            if _is_test_name(name):
                headers[name] = value

    body_values = {
        name: value
        for name, value in body_pairs
        if (name in BODY_VALUE_ALLOWLIST or _is_test_name(name)) and name not in SECRET_PARAMS
    }

    return {
        "time": time.time(),
        "grant_type": body.get("grant_type"),
        "client_id": client_id,
        "auth_method": auth_method,
        "content_type": ctype.split(";")[0].strip(),
        "body_format": body_format,
        "body_param_names": sorted({n for n, _ in body_pairs}),
        "body_values": body_values,
        "query_params": query,
        "audience": query.get("audience", [body.get("audience")] if "audience" in body else None),
        "test_headers": headers,
    }


class RequestStatsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path == TOKEN_PATH and OUTAGE.active():
            with STORE._lock:
                STORE.down_refused += 1
            return JsonResponse({"error": "temporarily_unavailable"}, status=503)
        if request.method == "POST" and request.path == TOKEN_PATH:
            meta = _token_request_metadata(request)
            # Some providers take token parameters in the query (e.g. ?audience=...). oauthlib refuses any
            # query on the token endpoint, so the server consumes them here, after recording them.
            request.META["QUERY_STRING"] = ""
            request.GET = QueryDict()
            response = self.get_response(request)
            meta["status"] = response.status_code
            meta["error"] = None
            if response.status_code != 200:
                with contextlib.suppress(ValueError, AttributeError):
                    meta["error"] = json.loads(response.content).get("error")
            STORE.add_token_request(meta)
            if OUTAGE.refresh_delay > 0 and meta["grant_type"] == "refresh_token":
                time.sleep(OUTAGE.refresh_delay)
            return response
        if request.method == "POST" and request.path == DEVICE_AUTHORIZATION_PATH:
            STORE.add_device_authorization()
        return self.get_response(request)


def _loopback_only(view):
    """Test endpoints answer the test process only: loopback, or the server's own (bound) address."""

    def wrapper(request: HttpRequest, *args, **kwargs):
        addr = request.META.get("REMOTE_ADDR", "")
        if not (addr.startswith("127.") or addr in ("::1", "localhost") or addr in OWN_ADDRESSES):
            return JsonResponse({"error": "forbidden"}, status=403)
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    return wrapper


@csrf_exempt
@_loopback_only
@require_GET
def stats_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(STORE.snapshot())


@csrf_exempt
@_loopback_only
@require_POST
def reset_view(request: HttpRequest) -> JsonResponse:
    STORE.reset()
    return JsonResponse({"reset": True, **STORE.snapshot()})


@csrf_exempt
@_loopback_only
@require_GET
def token_requests_view(request: HttpRequest) -> JsonResponse:
    try:
        limit = int(request.GET.get("limit", MAX_RECORDS))
    except ValueError:
        return JsonResponse({"error": "limit must be an integer"}, status=400)
    return JsonResponse({"requests": STORE.token_records(limit)})


def healthz_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@csrf_exempt
@_loopback_only
@require_POST
def config_view(request: HttpRequest) -> JsonResponse:
    """Change the server at run time: ``refresh_grace_seconds`` (DOT's grace window), ``token_endpoint_down_seconds``,
    ``refresh_delay_seconds`` (see :class:`_Outage`).
    """
    from oauth2_provider.settings import oauth2_settings

    try:
        body = json.loads(request.body or b"{}")
        if "refresh_grace_seconds" in body:
            oauth2_settings.REFRESH_TOKEN_GRACE_PERIOD_SECONDS = int(body["refresh_grace_seconds"])
        if "token_endpoint_down_seconds" in body:
            OUTAGE.until = time.time() + float(body["token_endpoint_down_seconds"])
        if "refresh_delay_seconds" in body:
            OUTAGE.refresh_delay = float(body["refresh_delay_seconds"])
    except (ValueError, TypeError) as exc:
        return JsonResponse({"error": f"bad config: {type(exc).__name__}"}, status=400)
    return JsonResponse(
        {
            "refresh_grace_seconds": oauth2_settings.REFRESH_TOKEN_GRACE_PERIOD_SECONDS,
            "token_endpoint_down": OUTAGE.active(),
        }
    )
