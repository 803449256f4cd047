"""A data-driven emulation of SaaS OAuth providers, served over HTTPS at their real hostnames.

One :class:`ProviderEmulation` per provider follows a declarative spec (``specs.yaml``, each spec citing the
vendor pages it is written from): where the authorization, token and API endpoints are, how the client
authenticates, how the token request is encoded, what the token response looks like (paths, expiry format,
captured fields), whether refresh tokens rotate, how errors are reported, and what an API call must carry.
The server only runs inside a private network namespace whose hosts file maps those hostnames to 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

#: How long every emulated access token is accepted by the emulated API (seconds): short, so that a test
#: crosses an expiry in a few seconds.
TOKEN_LIFETIME = 3.0
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class Grant:
    refresh_token: str | None
    revoked: bool = False


@dataclass
class ProviderEmulation:
    slug: str
    spec: dict[str, Any]
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access: dict[str, float] = field(default_factory=dict)  # access token -> expiry (server clock)
    refresh: dict[str, Grant] = field(default_factory=dict)  # live refresh token -> grant
    used_refresh: set[str] = field(default_factory=set)
    used_jti: set[str] = field(default_factory=set)
    stats: dict[str, int] = field(
        default_factory=lambda: {
            "authorize": 0,
            "exchange": 0,
            "refresh": 0,
            "grant": 0,
            "api": 0,
            "api_401": 0,  # API calls refused for the token (401, or the provider's own expired-token answer)
            "reuse": 0,
            "post_authorize": 0,
        }
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    _accept: str = ""

    # -- spec helpers ------------------------------------------------------------------------------------
    @property
    def token(self) -> dict[str, Any]:
        return self.spec["token"]

    def _creds_ok(self, headers: dict[str, str], params: dict[str, str]) -> bool:
        client = self.spec["client"]
        method = self.token["client_auth"]
        if method == "header":
            value = headers.get("authorization", "")
            if not value.startswith("Basic "):
                return False
            user, _, password = base64.b64decode(value[6:]).decode().partition(":")
            return (unquote_plus(user), unquote_plus(password)) == (client["id"], client["secret"])
        if method == "body":
            return params.get("client_id") == client["id"] and params.get("client_secret") == client["secret"]
        if method == "assertion":
            return True  # the signed assertion is checked by the JWT bearer grant
        return params.get("client_id") == client["id"]

    def _error(self, kind: str) -> tuple[int, dict[str, str], bytes]:
        style = self.spec["errors"][kind]
        body = style["body"]
        if style.get("form"):
            return style["status"], {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(body).encode()
        return style["status"], {"Content-Type": "application/json"}, json.dumps(body).encode()

    def _issue(
        self,
        *,
        refresh: bool,
        previous_refresh: str | None = None,
        person: bool = True,
        expiring: bool | None = None,
    ) -> dict[str, Any]:
        """
        A token response; ``expiring``: what the exchange asked for where the client chooses (``token.
        expiring_when``): True, an expiring token with a refresh token (``expiring_response``); False, a
        token that never expires, without one (``response``); None: as the spec says.
        """
        now = time.time()
        access = "at-" + secrets.token_urlsafe(12)
        expires = self.spec.get("expiring", True) if expiring is None else expiring
        self.access[access] = now + TOKEN_LIFETIME if expires else float("inf")
        new_refresh: str | None = None
        rotates = self.token.get("rotation", False)
        issues_refresh = self.token.get("refresh_tokens", True) if expiring is None else expiring
        if issues_refresh and person and (not refresh or rotates):
            new_refresh = "rt-" + secrets.token_urlsafe(12)
            self.refresh[new_refresh] = Grant(new_refresh)
            if previous_refresh:
                self.refresh.pop(previous_refresh, None)
                self.used_refresh.add(previous_refresh)
        kind = "refresh_response" if refresh else ("expiring_response" if expiring else "response")
        template = self.token.get(kind) or self.token["response"]
        # what the response states (a provider that decides a token expired earlier states more than it keeps)
        stated = float(self.token.get("stated_expires_in", TOKEN_LIFETIME))
        values = {
            "$access": access,
            "$refresh": new_refresh,
            "$expires_in": int(stated),
            "$expires_in_text": str(int(stated)),
            "$expires_at": int(now + stated),
            "$expires_at_ms": int((now + stated) * 1000),
            "$expires_iso": datetime.fromtimestamp(now + stated, tz=timezone.utc).isoformat(),
            "$now_ms": str(int(now * 1000)),
            "$other": "other-" + secrets.token_urlsafe(8),
        }
        return _render(template, values)

    # -- endpoints ---------------------------------------------------------------------------------------
    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        spec = self.spec["authorize"]
        for name, value in spec.get("required_query", {}).items():
            if query.get(name) != value:
                return 400, {"Content-Type": "text/plain"}, f"missing or wrong {name}".encode()
        client_param = spec.get("client_param", "client_id")
        if (
            query.get(client_param) != spec.get("client_value", self.spec["client"]["id"])
            or "redirect_uri" not in query
        ):
            return 400, {"Content-Type": "text/plain"}, b"unknown client or no redirect_uri"
        if spec.get("require_pkce") and query.get("code_challenge_method") != "S256":
            return 400, {"Content-Type": "text/plain"}, b"PKCE (S256) is required"
        code = "code-" + secrets.token_urlsafe(10)
        with self.lock:
            self.stats["authorize"] += 1
            self.codes[code] = {
                "redirect_uri": query["redirect_uri"],
                "challenge": query.get("code_challenge"),
                "scope": query.get("scope"),
            }
        params = {spec.get("code_param", "code"): code, "state": query.get("state", "")}
        params.update(spec.get("callback_extra", {}))
        target = query["redirect_uri"] + ("&" if "?" in query["redirect_uri"] else "?") + urlencode(params)
        return 302, {"Location": target}, b""

    def token_endpoint(
        self, method: str, headers: dict[str, str], query: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        spec = self.token
        if method != spec.get("method", "POST"):
            return 405, {"Content-Type": "text/plain"}, b"method not allowed"
        if spec.get("method", "POST") == "GET":
            params = dict(query)
        elif spec.get("body", "form") == "json":
            if "json" not in headers.get("content-type", ""):
                return (
                    415,
                    {"Content-Type": "application/json"},
                    b'{"error": "invalid_request", "message": "JSON body required"}',
                )
            params = {k: str(v) for k, v in json.loads(body or b"{}").items()}
        else:
            if "x-www-form-urlencoded" not in headers.get("content-type", ""):
                return 415, {"Content-Type": "text/plain"}, b"form body required"
            params = dict(parse_qsl(body.decode()))
            params.update({k: v for k, v in query.items() if spec.get("query_params_allowed")})
        self._accept = headers.get("accept", "")
        grant = params.get("grant_type")
        jwt_creds = grant == JWT_BEARER and bool(spec.get("jwt", {}).get("client_auth"))  # Box: id+secret too
        if (grant != JWT_BEARER or jwt_creds) and not self._creds_ok(headers, params):
            return self._error("invalid_client")
        with self.lock:
            if grant == "authorization_code":
                return self._exchange(params)
            if grant == "refresh_token":
                return self._refresh(params)
            if grant == JWT_BEARER and "jwt_bearer" in spec.get("grants", []):
                if not self._assertion_ok(params):
                    return self._error("invalid_grant")
                self.stats["grant"] += 1
                return (
                    200,
                    {"Content-Type": "application/json"},
                    json.dumps(self._issue(refresh=False, person=False)).encode(),
                )
            if grant in spec.get("grants", []):
                for name, value in spec.get("grant_params", {}).get(grant, {}).items():
                    if params.get(name) != value:
                        return self._error("invalid_request")
                self.stats["grant"] += 1
                return (
                    200,
                    {"Content-Type": "application/json"},
                    json.dumps(self._issue(refresh=False, person=False)).encode(),
                )
            return self._error("invalid_request")

    def _assertion_ok(self, params: dict[str, str]) -> bool:
        """
        RFC 7523 2.1 as the spec's ``jwt`` says: RS256 by the registered key; iss, sub, aud, exp, scope, kid, the
        provider's own claims (Box's ``box_sub_type``) and, with ``jti``, a unique 16-128 character ``jti``.
        """
        from joserfc import jwt
        from joserfc.jwk import import_key

        rules = self.token["jwt"]
        try:
            key = import_key(rules["public_key"], "RSA")
            token = jwt.decode(params.get("assertion", ""), key, algorithms=["RS256"])
        except Exception:
            return False
        claims = token.claims
        now = time.time()
        return (
            claims.get("iss") == rules["issuer"]
            and claims.get("aud") == rules["audience"]
            and claims.get("sub") == rules.get("subject", claims.get("sub"))
            and (not rules.get("scope_claim") or bool(claims.get("scope")))
            and claims.get("iat", 0) <= now + 5
            and now < claims.get("exp", 0) <= now + rules.get("max_lifetime", 3600) + 5
            and token.header.get("kid") == rules.get("kid")
            and all(claims.get(name) == value for name, value in rules.get("claims", {}).items())
            and (not rules.get("jti") or self._fresh_jti(claims.get("jti")))
        )

    def _fresh_jti(self, jti: Any) -> bool:
        """A ``jti`` of 16 to 128 characters never seen before (Box refuses a replayed assertion)."""
        if not isinstance(jti, str) or not 16 <= len(jti) <= 128 or jti in self.used_jti:
            return False
        self.used_jti.add(jti)
        return True

    def _exchange(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        record = self.codes.pop(params.get("code", ""), None)
        if record is None or record["redirect_uri"] != params.get("redirect_uri"):
            return self._error("invalid_grant")
        if record["challenge"] and not params.get("code_verifier"):
            return self._error("invalid_grant")
        self.stats["exchange"] += 1
        opt_in = self.token.get("expiring_when")  # body parameters by which the exchange asks for an expiring token
        expiring = None if opt_in is None else all(params.get(k) == v for k, v in opt_in.items())
        return self._reply(self._issue(refresh=False, expiring=expiring))

    def _refresh(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        allowed = self.token.get("refresh_params")  # the documented parameters of a refresh: no others accepted
        if allowed is not None and set(params) - set(allowed):
            return self._error("invalid_request")
        presented = params.get("refresh_token", "")
        if presented in self.used_refresh:
            self.stats["reuse"] += 1
            self.refresh.clear()  # reuse detection revokes the whole grant
            return self._error("invalid_grant")
        if presented not in self.refresh:
            return self._error("invalid_grant")
        self.stats["refresh"] += 1
        return self._reply(self._issue(refresh=True, previous_refresh=presented))

    def _reply(self, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if self.token.get("form_unless_json") and "json" not in self._accept:
            flat = {k: v for k, v in payload.items() if not isinstance(v, (dict, list))}
            return 200, {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(flat).encode()
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    def api(
        self, path: str, headers: dict[str, str], *, post_authorize: bool = False
    ) -> tuple[int, dict[str, str], bytes]:
        spec = self.spec["post_authorize" if post_authorize else "api"]
        header = headers.get(spec.get("header", "Authorization").lower(), "")
        scheme = spec.get("scheme", "Bearer")
        token = header[len(scheme) + 1 :] if scheme else header
        if scheme and not header.startswith(scheme + " "):
            token = ""
        with self.lock:
            expiry = self.access.get(token)
            if expiry is None or expiry < time.time():
                self.stats["api_401"] += 1
                return (
                    spec.get("unauthorized_status", 401),
                    {"Content-Type": "application/json"},
                    json.dumps(spec.get("unauthorized", {"error": "invalid_token"})).encode(),
                )
            for name, value in spec.get("required_headers", {}).items():
                if headers.get(name.lower()) != value:
                    return (
                        400,
                        {"Content-Type": "application/json"},
                        json.dumps({"error": f"missing header {name}"}).encode(),
                    )
            if not path.startswith(spec["path"]):
                return (
                    404,
                    {"Content-Type": "application/json"},
                    json.dumps({"error": "not found", "path": path}).encode(),
                )
            self.stats["post_authorize" if post_authorize else "api"] += 1
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps(spec.get("answer", {"ok": True, "path": path})).encode(),
        )


def _render(template: Any, values: dict[str, Any]) -> Any:
    if isinstance(template, str):
        return values.get(template, template)
    if isinstance(template, dict):
        rendered = {k: _render(v, values) for k, v in template.items()}
        return {k: v for k, v in rendered.items() if v is not None}
    if isinstance(template, list):
        return [_render(v, values) for v in template]
    return template


class EmulationServer:
    """All emulated providers behind one HTTPS listener on 127.0.0.1:443, routed by the Host header."""

    def __init__(self, specs: dict[str, dict[str, Any]], cert_file: str, key_file: str, port: int = 443) -> None:
        self.providers = {slug: ProviderEmulation(slug, spec) for slug, spec in specs.items()}
        self.routes: list[tuple[str, str, str, ProviderEmulation]] = []  # (host, path prefix, kind, provider)
        for emulation in self.providers.values():
            spec = emulation.spec
            if "authorize" in spec:
                self.routes.append((spec["authorize"]["host"], spec["authorize"]["path"], "authorize", emulation))
            self.routes.append((spec["token"]["host"], spec["token"]["path"], "token", emulation))
            if "post_authorize" in spec:
                pa = spec["post_authorize"]
                self.routes.append((pa["host"], pa["path"], "post_authorize", emulation))
            self.routes.append((spec["api"]["host"], spec["api"]["path"], "api", emulation))
        self.routes.sort(key=lambda r: -len(r[1]))
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def _dispatch(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                host = (self.headers.get("Host") or "").split(":")[0].lower()
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, reply_headers, payload = server.handle(
                    method, host, parts.path, dict(parse_qsl(parts.query)), headers, body
                )
                self.send_response(status)
                for name, value in reply_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def handle(
        self, method: str, host: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        for route_host, prefix, kind, emulation in self.routes:
            if route_host != host or not path.startswith(prefix):
                continue
            if kind == "authorize":
                return emulation.authorize(query)
            if kind == "token":
                return emulation.token_endpoint(method, headers, query, body)
            return emulation.api(path, headers, post_authorize=kind == "post_authorize")
        return 404, {"Content-Type": "text/plain"}, f"no emulation for {host}{path}".encode()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
