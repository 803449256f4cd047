"""Parse and validate a Connection into an immutable OAuth profile (no I/O)."""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

from airflow_oauth_connector.exceptions import ProfileError
from airflow_oauth_connector.retry import RetryPolicy

if TYPE_CHECKING:
    from airflow.sdk import Connection

CONN_TYPE = "oauth_connector"


class GrantType(str, enum.Enum):
    CLIENT_CREDENTIALS = "client_credentials"
    AUTHORIZATION_CODE = "authorization_code"


class ClientAuthMethod(str, enum.Enum):
    """Where the client credentials go on token requests."""

    HEADER = "header"  # RFC 6749 2.3.1 HTTP Basic (client_secret_basic)
    BODY = "body"  # client_id and client_secret form parameters (client_secret_post)
    NONE = "none"  # public client: client_id only

    @property
    def rfc_name(self) -> str:
        return _CLIENT_AUTH_RFC_NAMES[self]


_CLIENT_AUTH_RFC_NAMES = {
    ClientAuthMethod.HEADER: "client_secret_basic",
    ClientAuthMethod.BODY: "client_secret_post",
    ClientAuthMethod.NONE: "none",
}
_CLIENT_AUTH_ALIASES = {
    "header": ClientAuthMethod.HEADER,
    "basic": ClientAuthMethod.HEADER,
    "client_secret_basic": ClientAuthMethod.HEADER,
    "body": ClientAuthMethod.BODY,
    "post": ClientAuthMethod.BODY,
    "client_secret_post": ClientAuthMethod.BODY,
    "none": ClientAuthMethod.NONE,
    "public": ClientAuthMethod.NONE,
}
_GRANT_ALIASES = {
    "client_credentials": GrantType.CLIENT_CREDENTIALS,
    "authorization_code": GrantType.AUTHORIZATION_CODE,
}
_TOKEN_STORES = {name: name for name in ("memory", "file", "redis", "variables")}
_ACCESS_PARAM_PARTS = ("query", "headers", "body")
_MAX_JSON_FIELD = 64 * 1024


def _frozen(mapping: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class AccessParams:
    """Extra parameters merged into every token request (refreshes included)."""

    query: Mapping[str, str] = field(default_factory=_frozen)
    headers: Mapping[str, str] = field(default_factory=_frozen)
    body: Mapping[str, str] = field(default_factory=_frozen)


@dataclass(frozen=True)
class OAuthProfile:
    """Everything needed to obtain and use tokens for one connection. Secrets never appear in repr."""

    conn_id: str
    base_url: str
    grant_type: GrantType
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    access_url: str | None = None
    authorize_url: str | None = None
    issuer_url: str | None = None
    scope: str | None = None
    client_auth: ClientAuthMethod = ClientAuthMethod.HEADER
    access_params: AccessParams = field(default_factory=AccessParams)
    authorize_params: Mapping[str, str] = field(default_factory=_frozen)
    redirect_uri: str | None = None
    pkce: bool = True
    refresh_token: str | None = field(default=None, repr=False)
    header_name: str = "Authorization"
    header_prefix: str = "Bearer"
    query_param: str | None = None
    timeout: float = 30.0
    expiry_leeway: float = 60.0
    default_expires_in: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify: bool | str = True
    cert: str | tuple[str, str] | None = None
    """Client certificate for mutual TLS: a PEM path, or (certificate path, key path)."""
    allow_insecure_http: bool = False
    token_store: str | None = None
    """Token-store backend name (memory, file, redis, variables); ``None`` means the provider default."""

    @property
    def api_origin(self) -> str:
        return origin_of(self.base_url)

    @property
    def cache_key(self) -> str:
        """Identifies the token this profile obtains; changes whenever the credentials or endpoints do."""
        material = "\n".join(
            [
                self.grant_type.value,
                self.client_id,
                self.access_url or "",
                self.issuer_url or "",
                self.scope or "",
                hashlib.sha256((self.client_secret or "").encode()).hexdigest(),
                json.dumps(dict(self.access_params.body), sort_keys=True),
                json.dumps(dict(self.access_params.query), sort_keys=True),
            ]
        )
        digest = hashlib.sha256(material.encode()).hexdigest()[:16]
        return f"{self.conn_id}:{digest}"

    @classmethod
    def from_connection(cls, conn: Connection) -> OAuthProfile:
        """Build a profile from an Airflow connection; raises :class:`ProfileError` on bad input."""
        extra = conn.extra_dejson if conn.extra else {}
        if not isinstance(extra, Mapping):
            raise ProfileError(conn.conn_id, "extra", "expected a JSON object")
        return cls.from_fields(
            conn.conn_id,
            host=conn.host,
            port=conn.port,
            login=conn.login,
            password=conn.password,
            extra=extra,
        )

    @classmethod
    def from_fields(
        cls,
        conn_id: str,
        *,
        host: str | None,
        port: int | None = None,
        login: str | None,
        password: str | None,
        extra: Mapping[str, Any],
    ) -> OAuthProfile:
        p = _FieldReader(conn_id, extra)
        allow_http = p.boolean("allow_insecure_http", False)
        grant_type = p.choice("grant_type", _GRANT_ALIASES, GrantType.CLIENT_CREDENTIALS)
        client_auth = p.choice("client_auth", _CLIENT_AUTH_ALIASES, ClientAuthMethod.HEADER)
        issuer_url = p.url("issuer_url", allow_http)
        access_url = p.url("access_url", allow_http)
        authorize_url = p.url("authorize_url", allow_http)
        if access_url is None and issuer_url is None:
            raise ProfileError(
                conn_id,
                "access_url",
                "the access-token URL is required (or give an issuer URL for discovery)",
            )
        if grant_type is GrantType.AUTHORIZATION_CODE and authorize_url is None and issuer_url is None:
            raise ProfileError(
                conn_id,
                "authorize_url",
                "the authorization-code grant needs an authorization URL (or an issuer URL for discovery)",
            )
        client_id = (login or "").strip()
        if not client_id:
            raise ProfileError(conn_id, "login", "the client ID is required")
        secret = password or None
        if secret is None and client_auth is not ClientAuthMethod.NONE:
            raise ProfileError(
                conn_id,
                "password",
                "the client secret is required unless the credentials mechanism is 'none' (public client)",
            )
        header_name = p.text("header_name") or "Authorization"
        _check_header_name(conn_id, "header_name", header_name)
        return cls(
            conn_id=conn_id,
            base_url=_base_url(conn_id, host, port, allow_http),
            grant_type=grant_type,
            client_id=client_id,
            client_secret=secret,
            access_url=access_url,
            authorize_url=authorize_url,
            issuer_url=issuer_url,
            scope=_scope(p.text("scope")),
            client_auth=client_auth,
            access_params=p.access_params("access_params"),
            authorize_params=p.string_map("authorize_params"),
            redirect_uri=p.url("redirect_uri", allow_http=True),
            pkce=p.boolean("pkce", True),
            refresh_token=p.text("refresh_token"),
            header_name=header_name,
            header_prefix=p.prefix("header_prefix", "Bearer"),
            query_param=p.text("query_param"),
            timeout=p.number("timeout", 30.0, minimum=0.1),
            expiry_leeway=p.number("expiry_leeway", 60.0, minimum=0),
            default_expires_in=p.optional_number("default_expires_in", minimum=1),
            retry=RetryPolicy(
                max_attempts=int(p.number("retry_max_attempts", 5, minimum=1)),
                max_elapsed=p.number("retry_max_seconds", 120.0, minimum=0.1),
                retry_non_idempotent=p.boolean("retry_non_idempotent", False),
            ),
            verify=p.text("ca_bundle") or p.boolean("verify_tls", True),
            cert=_client_cert(conn_id, p.text("client_cert"), p.text("client_key")),
            allow_insecure_http=allow_http,
            token_store=p.choice("store_backend", _TOKEN_STORES, None),
        )


def origin_of(url: str) -> str:
    """``scheme://host:port`` with the default port made explicit, for same-origin checks."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"https": 443, "http": 80}.get(scheme)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def check_endpoint_url(conn_id: str, name: str, url: str, allow_http: bool) -> str:
    """``url`` if it is an absolute http(s) URL that is https or loopback; else :class:`ProfileError`."""
    parts = _split_url(conn_id, name, url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileError(conn_id, name, "expected an absolute http(s) URL, e.g. https://auth.example.com/oauth/token")
    _require_secure(conn_id, name, parts.scheme, parts.hostname, allow_http)
    return url


def _split_url(conn_id: str, name: str, url: str) -> SplitResult:
    """``urlsplit`` that also checks the host and port, raising :class:`ProfileError` for bad ones."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        raise ProfileError(conn_id, name, "is not a valid URL (bad host or port)") from None
    return parts


def is_loopback_host(hostname: str | None) -> bool:
    if not hostname:
        return False
    if hostname.lower() == "localhost" or hostname.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _client_cert(conn_id: str, cert: str | None, key: str | None) -> str | tuple[str, str] | None:
    if key and not cert:
        raise ProfileError(conn_id, "client_key", "needs 'client_cert' (the certificate's PEM file) as well")
    if cert and key:
        return (cert, key)
    return cert


def _scope(value: str | None) -> str | None:
    if value is None:
        return None
    parts = value.replace(",", " ").split()
    return " ".join(parts) or None


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token


def _check_header_name(conn_id: str, name: str, value: str) -> None:
    if not _HEADER_NAME.match(value):
        raise ProfileError(conn_id, name, f"{value[:40]!r} is not a valid HTTP header name")


def _base_url(conn_id: str, host: str | None, port: int | None, allow_http: bool) -> str:
    text = (host or "").strip()
    if not text:
        raise ProfileError(conn_id, "host", "the API base URL is required, e.g. https://api.example.com/v1")
    parts = _split_url(conn_id, "host", text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileError(conn_id, "host", "the API base URL needs a scheme and host, e.g. https://api.example.com/v1")
    _require_secure(conn_id, "host", parts.scheme, parts.hostname, allow_http)
    if port and parts.port is None:
        text = _split_url(conn_id, "port", parts._replace(netloc=f"{parts.netloc}:{port}").geturl()).geturl()
    return text.rstrip("/")


def _require_secure(conn_id: str, name: str, scheme: str, hostname: str, allow_http: bool) -> None:
    if scheme == "http" and not allow_http and not is_loopback_host(hostname):
        raise ProfileError(
            conn_id,
            name,
            "must use https (plain http is only accepted for loopback hosts, or with 'allow_insecure_http')",
        )


class _FieldReader:
    """Typed access to connection extras, raising :class:`ProfileError` that names the field."""

    def __init__(self, conn_id: str, extra: Mapping[str, Any]) -> None:
        self.conn_id = conn_id
        self.extra = extra

    def _raw(self, name: str) -> Any:
        value = self.extra.get(name)
        return None if value == "" else value

    def fail(self, name: str, problem: str) -> ProfileError:
        return ProfileError(self.conn_id, name, problem)

    def text(self, name: str) -> str | None:
        """Stripped text, ``None`` when absent or blank."""
        value = self.extra.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(name, f"expected text, got {type(value).__name__}")
        return value.strip() or None

    def prefix(self, name: str, default: str) -> str:
        """Like :meth:`text`, but an explicit empty string is kept (it means "no prefix")."""
        value = self.extra.get(name)
        if value is None:
            return default
        if not isinstance(value, str) or any(ch in value for ch in "\r\n\0"):
            raise self.fail(name, "expected text on one line")
        return value.strip()

    def boolean(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
            return False
        raise self.fail(name, "expected true or false")

    def optional_number(self, name: str, *, minimum: float) -> float | None:
        value = self._raw(name)
        if value is None:
            return None
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise self.fail(name, "expected a number") from None
        if isinstance(value, bool) or not math.isfinite(number) or number < minimum:
            raise self.fail(name, f"expected a finite number of at least {minimum:g}")
        return number

    def number(self, name: str, default: float, *, minimum: float) -> float:
        value = self.optional_number(name, minimum=minimum)
        return default if value is None else value

    def choice(self, name: str, aliases: Mapping[str, Any], default: Any) -> Any:
        value = self._raw(name)
        if value is None:
            return default
        key = str(value).strip().lower().replace("-", "_").replace(" ", "_")
        if key not in aliases:
            allowed = ", ".join(sorted({str(getattr(v, "value", v)) for v in aliases.values()}))
            raise self.fail(name, f"unknown value {str(value)[:40]!r}; expected one of: {allowed}")
        return aliases[key]

    def url(self, name: str, allow_http: bool) -> str | None:
        value = self.text(name)
        return None if value is None else check_endpoint_url(self.conn_id, name, value, allow_http)

    def json_object(self, name: str) -> Mapping[str, Any]:
        value = self._raw(name)
        if value is None:
            return {}
        if isinstance(value, str):
            if len(value) > _MAX_JSON_FIELD:
                raise self.fail(name, f"is longer than {_MAX_JSON_FIELD} characters")
            try:
                value = json.loads(value)
            except (ValueError, RecursionError) as exc:
                position = getattr(exc, "pos", None)
                where = f" near character {position}" if position is not None else ""
                raise self.fail(name, f"is not valid JSON{where}; expected a JSON object") from None
        if not isinstance(value, Mapping):
            raise self.fail(name, f"expected a JSON object, got {type(value).__name__}")
        return value

    def string_map(self, name: str, value: Any = None) -> Mapping[str, str]:
        data = self.json_object(name) if value is None else value
        if not isinstance(data, Mapping):
            raise self.fail(name, f"expected a JSON object, got {type(data).__name__}")
        result: dict[str, str] = {}
        for key, item in data.items():
            if isinstance(item, (dict, list)) or item is None:
                raise self.fail(name, f"value of {str(key)[:40]!r} must be a string, number or boolean")
            text = json.dumps(item) if isinstance(item, bool) else str(item)
            if any(ch in str(key) + text for ch in "\r\n\0"):
                raise self.fail(name, f"{str(key)[:40]!r} contains a line break or NUL character")
            result[str(key)] = text
        return MappingProxyType(result)

    def access_params(self, name: str) -> AccessParams:
        data = self.json_object(name)
        unknown = sorted(str(k) for k in data if k not in _ACCESS_PARAM_PARTS)
        if unknown:
            raise self.fail(
                name,
                f"unknown part(s) {', '.join(unknown)[:80]}; expected an object with 'query', 'headers', 'body'",
            )
        parts = {part: self.string_map(f"{name}.{part}", data.get(part) or {}) for part in _ACCESS_PARAM_PARTS}
        for header in parts["headers"]:
            _check_header_name(self.conn_id, f"{name}.headers", header)
        return AccessParams(**parts)
