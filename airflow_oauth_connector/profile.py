"""Parse and validate a Connection into an immutable OAuth profile (no I/O)."""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, quote, urlsplit

from airflow_oauth_connector.config import StoreBackend
from airflow_oauth_connector.exceptions import CapturedValueMissingError, ProfileError
from airflow_oauth_connector.fields import label_for
from airflow_oauth_connector.json_field import MAX_EXTRA_CHARS, json_object, parse_json
from airflow_oauth_connector.presets import Applied, apply_preset
from airflow_oauth_connector.retry import RetryPolicy

if TYPE_CHECKING:
    from airflow.sdk import Connection

CONN_TYPE = "oauth_connector"


class GrantType(str, enum.Enum):
    CLIENT_CREDENTIALS = "client_credentials"
    AUTHORIZATION_CODE = "authorization_code"
    TOKEN_EXCHANGE = "token_exchange"  # RFC 8693, subject token read from a file
    PASSWORD = "password"  # RFC 6749 4.3, legacy: resource-owner password credentials
    JWT_BEARER = "jwt_bearer"  # RFC 7523 2.1: a signed assertion from a service-account key
    CUSTOM = "custom"  # a provider's own grant_type (e.g. Zoom's account_credentials) with extra parameters

    @property
    def needs_person(self) -> bool:
        """True for grants a person authorizes (the token is renewed by refresh, not by asking again)."""
        return self is GrantType.AUTHORIZATION_CODE


class TokenBody(str, enum.Enum):
    """How the parameters of a token request are encoded."""

    FORM = "form"  # application/x-www-form-urlencoded body (RFC 6749)
    JSON = "json"  # application/json body (Notion, Atlassian, ...)


class TokenMethod(str, enum.Enum):
    POST = "POST"
    GET = "GET"  # parameters in the query string (a few legacy providers)


class ExpiresFormat(str, enum.Enum):
    """How the token response states the access token's lifetime."""

    SECONDS = "seconds"  # RFC 6749 expires_in: seconds from now
    EPOCH = "epoch"  # absolute expiry, epoch seconds
    EPOCH_MS = "epoch_ms"  # absolute expiry, epoch milliseconds
    TIMESTAMP = "timestamp"  # absolute expiry, an ISO 8601 timestamp
    FIXED = "fixed"  # the response says nothing usable: always 'default_expires_in'


class ClientAuthMethod(str, enum.Enum):
    """Where the client credentials go on token requests."""

    HEADER = "header"  # RFC 6749 2.3.1 HTTP Basic (client_secret_basic)
    BODY = "body"  # client_id and client_secret form parameters (client_secret_post)
    NONE = "none"  # public client: client_id only
    PRIVATE_KEY_JWT = "private_key_jwt"  # RFC 7523 assertion signed with the client's private key
    CLIENT_SECRET_JWT = "client_secret_jwt"  # assertion signed with HMAC over the client secret
    CLIENT_ASSERTION_FILE = "client_assertion_file"  # a federated assertion read from a file (rotates)

    @property
    def rfc_name(self) -> str:
        return _CLIENT_AUTH_RFC_NAMES[self]


_CLIENT_AUTH_RFC_NAMES = {
    ClientAuthMethod.HEADER: "client_secret_basic",
    ClientAuthMethod.BODY: "client_secret_post",
    ClientAuthMethod.NONE: "none",
    ClientAuthMethod.PRIVATE_KEY_JWT: "private_key_jwt",
    ClientAuthMethod.CLIENT_SECRET_JWT: "client_secret_jwt",
    ClientAuthMethod.CLIENT_ASSERTION_FILE: "private_key_jwt",
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
    "private_key_jwt": ClientAuthMethod.PRIVATE_KEY_JWT,
    "client_secret_jwt": ClientAuthMethod.CLIENT_SECRET_JWT,
    "client_assertion_file": ClientAuthMethod.CLIENT_ASSERTION_FILE,
}
#: Client-auth methods that need no client secret in the password field.
_NO_SECRET_METHODS = (ClientAuthMethod.NONE, ClientAuthMethod.CLIENT_ASSERTION_FILE)
_GRANT_ALIASES = {
    "client_credentials": GrantType.CLIENT_CREDENTIALS,
    "authorization_code": GrantType.AUTHORIZATION_CODE,
    "password": GrantType.PASSWORD,
    "jwt_bearer": GrantType.JWT_BEARER,
    "urn:ietf:params:oauth:grant_type:jwt_bearer": GrantType.JWT_BEARER,
    "custom": GrantType.CUSTOM,
    "token_exchange": GrantType.TOKEN_EXCHANGE,
    "urn:ietf:params:oauth:grant_type:token_exchange": GrantType.TOKEN_EXCHANGE,
}
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
_TOKEN_BODIES = {"form": TokenBody.FORM, "json": TokenBody.JSON}
_TOKEN_METHODS = {"post": TokenMethod.POST, "get": TokenMethod.GET}
_EXPIRES_FORMATS = {f.value: f for f in ExpiresFormat} | {"iso8601": ExpiresFormat.TIMESTAMP}
_RESPONSE_MAP_KEYS = ("access_token", "refresh_token", "expires", "refresh_expires", "token_type", "scope")
_TOKEN_STORES = {name: name for name in StoreBackend.names()}
_ACCESS_PARAM_PARTS = ("query", "headers", "body")


def _frozen(mapping: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class TokenRequestKind(str, enum.Enum):
    """The kinds of token request a token parameter can be scoped to (the sections of ``access_params``)."""

    EXCHANGE = "exchange"
    """The authorization-code exchange (and the device-code grant): a person's authorization becomes tokens."""
    REFRESH = "refresh"
    """A refresh-token request."""
    GRANT = "grant"
    """A new token from a grant that needs no person (client credentials, password, JWT bearer, custom, ...)."""

    @classmethod
    def of(cls, grant_type: object) -> TokenRequestKind:
        """The kind of a token request by the ``grant_type`` it sends."""
        if grant_type == "refresh_token":
            return cls.REFRESH
        if grant_type in ("authorization_code", DEVICE_CODE_GRANT):
            return cls.EXCHANGE
        return cls.GRANT


_REQUEST_KINDS = tuple(kind.value for kind in TokenRequestKind)


@dataclass(frozen=True)
class RequestParams:
    """Extra query parameters, headers and body parameters of a token request."""

    query: Mapping[str, str] = field(default_factory=_frozen)
    headers: Mapping[str, str] = field(default_factory=_frozen)
    body: Mapping[str, str] = field(default_factory=_frozen)

    def over(self, base: RequestParams) -> RequestParams:
        """These parameters laid over ``base`` part by part (a name in both takes this one's value)."""
        return RequestParams(
            query=_frozen({**base.query, **self.query}),
            headers=_frozen({**base.headers, **self.headers}),
            body=_frozen({**base.body, **self.body}),
        )


@dataclass(frozen=True)
class AccessParams(RequestParams):
    """
    The token parameters (``access_params``): ``query``, ``headers`` and ``body`` go on every token request,
    refreshes included; a section per kind of request (``exchange``, ``refresh``, ``grant``) adds its own parts
    to that kind only, winning over the shared ones.
    """

    exchange: RequestParams = field(default_factory=RequestParams)
    refresh: RequestParams = field(default_factory=RequestParams)
    grant: RequestParams = field(default_factory=RequestParams)

    def for_request(self, kind: TokenRequestKind | None) -> RequestParams:
        """What a request of ``kind`` carries (``None``: a request that is no token request, e.g. PAR)."""
        shared = RequestParams(self.query, self.headers, self.body)
        return shared if kind is None else self.section(kind).over(shared)

    def section(self, kind: TokenRequestKind) -> RequestParams:
        sections = {TokenRequestKind.EXCHANGE: self.exchange, TokenRequestKind.REFRESH: self.refresh}
        return sections.get(kind, self.grant)


@dataclass(frozen=True)
class ResponseMap:
    """Where a token response keeps its fields (dotted paths), and how it states the expiry."""

    access_token: str = "access_token"
    refresh_token: str = "refresh_token"
    expires: str = "expires_in"
    refresh_expires: str = "refresh_token_expires_in|x_refresh_token_expires_in"
    """The refresh token's lifetime in seconds (GitHub, Shopify, LinkedIn, Pinterest; QuickBooks' ``x_`` name)."""
    token_type: str = "token_type"
    scope: str = "scope"
    expires_format: ExpiresFormat = ExpiresFormat.SECONDS
    capture: Mapping[str, str] = field(default_factory=_frozen)
    """Captured value name -> dotted path of a token-response field kept with the grant (``instance_url``)."""
    error_map: Mapping[str, str] = field(default_factory=_frozen)
    """A provider's own error code -> the OAuth error code it means (``invalid_refresh_token`` -> ``invalid_grant``)."""


@dataclass(frozen=True)
class JwtBearer:
    """RFC 7523 2.1 assertion settings: the service-account key and the claims it signs. Never in a repr."""

    private_key: str = field(repr=False)
    issuer: str
    audience: str | None = None
    """``None``: the token endpoint URL."""
    subject: str | None = None
    key_id: str | None = None
    algorithm: str = "RS256"
    lifetime: float = 3600.0
    scope_in_claim: bool = False
    """Put the scope in the assertion (Google) instead of a ``scope`` form parameter (RFC 7523)."""
    claims: Mapping[str, str] = field(default_factory=_frozen)
    signing_key: Any = field(default=None, repr=False, compare=False)
    """``private_key`` parsed (and decrypted with its passphrase) for ``algorithm``; ``None``: parsed when signing."""


@dataclass(frozen=True)
class PostAuthorizeCall:
    """One API call made right after authorization with the new token; values of its answer are captured."""

    url: str
    capture: Mapping[str, str]
    """Captured value name -> dotted path in the JSON answer (``0.tenantId`` for a list's first item)."""


@dataclass(frozen=True)
class RenewSignal:
    """
    API answers besides a 401 that mean the token expired or was revoked (``renew_on``): the token is renewed
    once and the request sent again. Both parts given: both must hold.
    """

    statuses: frozenset[int] | None = None
    """The answer's HTTP status is one of these; ``None``: any status (the body condition alone decides)."""
    path: str | None = None
    """Dotted path into the answer's JSON body (``error``, ``errors.0.code``); ``None``: the status alone decides."""
    values: frozenset[str] = frozenset()
    """What the value at ``path`` is when the token expired (compared as text: ``true``, ``403``, ``token_expired``)."""


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
    provider: str = "custom"
    """The preset the settings came from (``custom``: none)."""
    access_body: TokenBody = TokenBody.FORM
    access_method: TokenMethod = TokenMethod.POST
    refresh_url: str | None = None
    """A separate endpoint for refresh-token requests (default: the access-token URL)."""
    custom_grant_type: str | None = None
    """The ``grant_type`` value sent for ``GrantType.CUSTOM``."""
    grant_params: Mapping[str, str] = field(default_factory=_frozen)
    """Parameters of the password/custom/client-credentials grant request (not of refreshes)."""
    username: str | None = None
    user_password: str | None = field(default=None, repr=False)
    jwt: JwtBearer | None = None
    response: ResponseMap = field(default_factory=ResponseMap)
    code_param: str = "code"
    """Name of the callback query parameter that carries the authorization code (``spapi_oauth_code``)."""
    capture_callback: tuple[str, ...] = ()
    """Callback query parameters kept with the grant (``realmId``)."""
    post_authorize: PostAuthorizeCall | None = None
    api_headers: Mapping[str, str] = field(default_factory=_frozen)
    """Fixed headers on every API call; values may hold ``{name}`` placeholders of captured values."""
    captured: Mapping[str, str] = field(default_factory=_frozen)
    """Values captured when the connection was authorized (saved in its extra beside the refresh token)."""
    renew_on: RenewSignal | None = None
    """Answers besides a 401 that mean the API refused the token as expired (renew once, send again)."""

    @property
    def placeholders(self) -> tuple[str, ...]:
        """Names of captured values that the base URL and API headers need."""
        return placeholders_in(self.base_url, *self.api_headers.values())

    def resolve(self, template: str, captured: Mapping[str, str]) -> str:
        """``template`` with its ``{name}`` placeholders filled from captured values."""
        return fill_placeholders(self.conn_id, template, captured)

    def resolved_base_url(self, captured: Mapping[str, str]) -> str:
        return fill_placeholders(self.conn_id, self.base_url, captured, url=True).rstrip("/")

    def resolved_headers(self, captured: Mapping[str, str]) -> dict[str, str]:
        return {name: self.resolve(value, captured) for name, value in self.api_headers.items()}

    signing_alg: str | None = None
    """JWS algorithm of ``private_key_jwt`` (default RS256) / ``client_secret_jwt`` (default HS256) assertions."""
    key_id: str | None = None
    """``kid`` header of the client assertions (default: the JWK's own ``kid``, if any)."""
    signing_key: Any = field(default=None, repr=False, compare=False)
    """The parsed private key of ``private_key_jwt`` (from the password field)."""
    key_passphrase: str | None = field(default=None, repr=False)
    """The passphrase of an encrypted PEM private key (``jwt_key_passphrase``, or the Box app config's own)."""
    client_assertion_file: str | None = None
    """Path of the federated client assertion (``client_assertion_file`` client auth), read at every request."""
    subject_token_file: str | None = None
    """Token exchange (RFC 8693): path of the subject token, read at every token request."""
    subject_token_type: str = JWT_TOKEN_TYPE
    audience: str | None = None
    requested_token_type: str | None = None
    resource: tuple[str, ...] = ()
    """RFC 8707 resource indicators, sent on authorization and token requests."""
    dpop: bool = False
    """RFC 9449: DPoP-bound tokens and a fresh proof on every API request."""
    par: bool = False
    """RFC 9126: push authorization requests (also done, whatever this says, when the metadata requires it)."""
    device_url: str | None = None
    """RFC 8628 device authorization endpoint (default: the issuer metadata's), for ``authorize --device``."""

    @property
    def openid(self) -> bool:
        """The scope asks for OpenID Connect (``openid``): the request carries a nonce, its ID Token is checked."""
        return "openid" in (self.scope or "").split()

    @property
    def api_origin(self) -> str:
        """The API's origin; for a base URL with captured placeholders use :meth:`resolved_base_url` first."""
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
                json.dumps(dict(self.grant_params), sort_keys=True),
                self.custom_grant_type or "",
                self.username or "",
                hashlib.sha256((self.user_password or "").encode()).hexdigest(),
                "" if self.jwt is None else f"{self.jwt.issuer}|{self.jwt.subject or ''}|{self.jwt.key_id or ''}",
                hashlib.sha256((self.jwt.private_key if self.jwt else "").encode()).hexdigest(),
            ]
        )
        # Fields added later join the material only when set, so existing connections keep their stored token.
        later = [
            " ".join(self.resource),
            self.audience or "",
            "dpop" if self.dpop else "",
            self.subject_token_file or "",
            self.requested_token_type or "",
            # Scoped token parameters that shape the renewed token; the exchange's are left out: they apply
            # once, at authorization, and the token already authorized stays valid when they change.
            *(
                json.dumps({"body": dict(part.body), "query": dict(part.query)}, sort_keys=True)
                for part in (self.access_params.refresh, self.access_params.grant)
                if part.body or part.query
            ),
        ]
        if any(later):
            material += "\n" + "\n".join(later)
        digest = hashlib.sha256(material.encode()).hexdigest()[:16]
        return f"{self.conn_id}:{digest}"

    @classmethod
    def from_connection(cls, conn: Connection, extra: Mapping[str, Any] | None = None) -> OAuthProfile:
        """
        Build a profile from an Airflow connection; raises :class:`ProfileError` on bad input.

        ``extra``: the connection's extra already parsed (default: parsed here, from ``conn.extra``).
        """
        if extra is None:
            extra = {}
            if conn.extra and conn.extra.strip():
                # Checked here first: Airflow reads an extra that is not JSON as {}, and one nested too deeply
                # raises RecursionError. The value is Airflow's reading, which also masks the extra's secrets.
                json_object(conn.conn_id, "extra", conn.extra, max_chars=MAX_EXTRA_CHARS)
                extra = conn.extra_dejson
        extra = json_object(conn.conn_id, "extra", extra)
        profile = cls.from_fields(
            conn.conn_id,
            host=conn.host,
            port=conn.port,
            login=conn.login,
            password=conn.password,
            extra=extra,
        )
        # Airflow masks the password field whole and the extra's secret keys; a key file in the password field
        # (Box's app config) holds a client secret and a passphrase of its own, masked here like them.
        from airflow_oauth_connector.redaction import register_secret

        register_secret(profile.client_secret)
        register_secret(profile.key_passphrase)
        return profile

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
        """
        The profile of these fields; a bad one raises :class:`~.exceptions.ConnectionSettingsError` listing
        every problem that :func:`airflow_oauth_connector.validation.check_connection` finds, by label.
        """
        applied: Applied | None = None
        try:
            applied = apply_preset(conn_id, extra, host)
            return cls.parse_applied(conn_id, applied, port=port, login=login, password=password)
        except ProfileError as exc:
            if type(exc) is not ProfileError:
                raise
            from airflow_oauth_connector.validation import settings_error

            preset = exc if applied is None else applied  # what the preset step gave: the error, or the settings
            raise settings_error(exc, host=host, login=login, password=password, extra=extra, preset=preset) from None

    @classmethod
    def parse_applied(
        cls, conn_id: str, applied: Applied, *, port: int | None = None, login: str | None, password: str | None
    ) -> OAuthProfile:
        """
        The profile of settings with their preset laid under them (:func:`~.presets.apply_preset`); raises a
        :class:`ProfileError` for the first bad one found (:meth:`from_fields` lists every problem).
        """
        provider, extra, host = applied
        p = _FieldReader(conn_id, extra)
        allow_http = p.boolean("allow_insecure_http", False)
        grant_type = p.choice("grant_type", _GRANT_ALIASES, GrantType.CLIENT_CREDENTIALS)
        jwt_bearer = grant_type is GrantType.JWT_BEARER
        client_auth = p.choice(
            "client_auth", _CLIENT_AUTH_ALIASES, ClientAuthMethod.NONE if jwt_bearer else ClientAuthMethod.HEADER
        )
        jwt, key_secret, passphrase = _jwt_bearer(conn_id, p, login, password) if jwt_bearer else (None, None, None)
        issuer_url = p.url("issuer_url", allow_http)
        access_url = p.url("access_url", allow_http)
        if access_url is None and jwt is not None and jwt.audience:
            access_url = check_endpoint_url(conn_id, "password", jwt.audience, allow_http)
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
        client_id = (login or "").strip() or (jwt.issuer if jwt is not None else "")
        if not client_id:
            raise ProfileError(conn_id, "login", "the client ID is required")
        check_secret(conn_id, grant_type, client_auth, password)
        secret = key_secret if jwt_bearer else (password or None)
        if jwt_bearer and secret is None and client_auth in (ClientAuthMethod.HEADER, ClientAuthMethod.BODY):
            # the assertion authenticates; with no client secret (a plain key) there is none to send, and
            # Airflow's form stores "header" for a client authentication left alone
            client_auth = ClientAuthMethod.NONE
        if not jwt_bearer:
            passphrase = _passphrase(p)
        signing_alg, key_id, signing_key = _assertion_signing(p, client_auth, secret, passphrase)
        assertion_file = p.text("client_assertion_file")
        if client_auth is ClientAuthMethod.CLIENT_ASSERTION_FILE and not assertion_file:
            raise ProfileError(
                conn_id, "client_assertion_file", "the path of the client assertion (a JWT file) is required"
            )
        subject_token_file = p.text("subject_token_file")
        if grant_type is GrantType.TOKEN_EXCHANGE and not subject_token_file:
            raise ProfileError(
                conn_id, "subject_token_file", "token exchange needs the path of the subject token (a JWT file)"
            )
        custom_grant_type = p.text("custom_grant_type")
        if grant_type is GrantType.CUSTOM and not custom_grant_type:
            raise ProfileError(
                conn_id,
                "custom_grant_type",
                "the custom grant needs the grant_type value to send, e.g. account_credentials",
            )
        username, user_password = p.text("username"), p.text("user_password")
        if grant_type is GrantType.PASSWORD and not (username and user_password):
            missing = "username" if not username else "user_password"
            raise ProfileError(conn_id, missing, "the password grant needs the resource owner's username and password")
        header_name = p.text("header_name") or "Authorization"
        _check_header_name(conn_id, "header_name", header_name)
        api_headers = p.header_map("api_headers")
        return cls(
            conn_id=conn_id,
            base_url=_base_url(conn_id, host, port, allow_http),
            grant_type=grant_type,
            client_id=client_id,
            client_secret=secret,
            access_url=access_url,
            authorize_url=authorize_url,
            issuer_url=issuer_url,
            scope=_scope(p.text("scope"), p.prefix("scope_separator", " ") or " "),
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
            provider=provider,
            access_body=p.choice("access_body", _TOKEN_BODIES, TokenBody.FORM),
            access_method=p.choice("access_method", _TOKEN_METHODS, TokenMethod.POST),
            refresh_url=p.url("refresh_url", allow_http),
            custom_grant_type=custom_grant_type,
            grant_params=p.string_map("grant_params"),
            username=username,
            user_password=user_password,
            jwt=jwt,
            response=_response_map(p, grant_type),
            code_param=p.text("code_param") or "code",
            capture_callback=tuple(p.names("capture_callback")),
            post_authorize=_post_authorize(p, allow_http),
            api_headers=api_headers,
            captured=p.string_map("captured"),
            renew_on=_renew_on(p),
            signing_alg=signing_alg,
            key_id=key_id,
            signing_key=signing_key,
            key_passphrase=passphrase,
            client_assertion_file=assertion_file,
            subject_token_file=subject_token_file,
            subject_token_type=p.text("subject_token_type") or JWT_TOKEN_TYPE,
            audience=p.text("audience"),
            requested_token_type=p.text("requested_token_type"),
            resource=_resources(p),
            dpop=p.boolean("dpop", False),
            par=p.boolean("par", False),
            device_url=p.url("device_url", allow_http),
        )


def _assertion_signing(
    p: _FieldReader, client_auth: ClientAuthMethod, secret: str | None, passphrase: str | None = None
) -> tuple[str | None, str | None, Any]:
    """``signing_alg``, ``key_id`` and (for private_key_jwt) the parsed key, checked against each other."""
    from airflow_oauth_connector.exceptions import JwtMaterialError, KeyPassphraseError
    from airflow_oauth_connector.jwt_material import check_hmac_secret, load_signing_key

    alg = p.text("signing_alg")
    key_id = p.text("key_id")
    try:
        if client_auth is ClientAuthMethod.PRIVATE_KEY_JWT:
            alg = alg or "RS256"
            key, jwk_kid = load_signing_key(secret or "", alg, passphrase)
            return alg, key_id or jwk_kid, key
        if client_auth is ClientAuthMethod.CLIENT_SECRET_JWT:
            alg = alg or "HS256"
            check_hmac_secret(secret or "", alg)
            return alg, key_id, None
    except KeyPassphraseError as exc:
        raise p.fail(PASSPHRASE_FIELD, str(exc)) from None
    except JwtMaterialError as exc:
        if str(exc).startswith("unsupported signing algorithm") or str(exc).startswith("client_secret_jwt signs"):
            raise p.fail("signing_alg", str(exc)) from None
        raise p.fail("password", f"the client's {'secret' if secret else 'key'} {exc}") from None
    return alg, key_id, None


PASSPHRASE_FIELD = "jwt_key_passphrase"
"""The extra key of an encrypted PEM key's passphrase (Airflow's masker hides keys containing "passphrase")."""


def _passphrase(p: _FieldReader) -> str | None:
    """The passphrase as given (not stripped: spaces may belong to it); ``None`` when absent or empty."""
    value = p.extra.get(PASSPHRASE_FIELD)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise p.fail(PASSPHRASE_FIELD, f"expected text, got {type(value).__name__}")
    return value


def _resources(p: _FieldReader) -> tuple[str, ...]:
    """RFC 8707 resource indicators: absolute URIs without a fragment, space-separated."""
    text = p.text("resource")
    if not text:
        return ()
    values = tuple(text.split())
    for value in values:
        parts = urlsplit(value)
        if not parts.scheme or parts.fragment:
            raise p.fail("resource", f"{value[:60]!r} is not an absolute URI without a fragment (RFC 8707 2)")
    return values


def _response_map(p: _FieldReader, grant_type: GrantType) -> ResponseMap:
    paths = p.string_map("response_map")
    p.only_keys("response_map", paths, _RESPONSE_MAP_KEYS, f"expected: {', '.join(_RESPONSE_MAP_KEYS)}")
    expires_format = p.choice("expires_format", _EXPIRES_FORMATS, ExpiresFormat.SECONDS)
    if expires_format is ExpiresFormat.FIXED and p.optional_number("default_expires_in", minimum=1) is None:
        raise p.fail("default_expires_in", "expires_format 'fixed' needs the lifetime in seconds here")
    return ResponseMap(
        **{key: value for key, value in paths.items()},
        expires_format=expires_format,
        capture=p.string_map("capture_response"),
        error_map=p.string_map("error_map"),
    )


_RENEW_ON_KEYS = ("statuses", "path", "values")


def _renew_on(p: _FieldReader) -> RenewSignal | None:
    """``renew_on``: ``{"statuses": [403]}`` and/or ``{"path": "error", "values": ["token_expired"]}``."""
    data = p.json_object("renew_on")
    if not data:
        return None
    p.only_keys("renew_on", data, _RENEW_ON_KEYS, "expected an object with 'statuses', 'path', 'values'")
    statuses = None if data.get("statuses") is None else _renew_statuses(p, data["statuses"])
    path, values = data.get("path"), data.get("values")
    if path is None and values is None:
        if statuses is None:
            raise p.fail("renew_on", "give 'statuses' (e.g. [403]) and/or 'path' with 'values' (a JSON body condition)")
        return RenewSignal(statuses=statuses)
    path = path.strip() if isinstance(path, str) else None
    if not path or any(ch.isspace() or ch == "\0" for ch in path):
        raise p.fail("renew_on.path", 'expected a dotted path into the JSON answer, e.g. "error" or "errors.0.code"')
    if not isinstance(values, list) or not values:
        raise p.fail("renew_on.values", 'expected a list of what the value at "path" is then, e.g. ["token_expired"]')
    texts = []
    for value in values:
        if isinstance(value, (dict, list)) or value is None:
            raise p.fail("renew_on.values", "each value must be a string, number or boolean")
        texts.append(json.dumps(value) if isinstance(value, bool) else str(value))
    return RenewSignal(statuses=statuses, path=path, values=frozenset(texts))


def _renew_statuses(p: _FieldReader, value: Any) -> frozenset[int]:
    """HTTP statuses 200-599 but no redirect (a redirect is followed, not judged)."""
    if not isinstance(value, list) or not value:
        raise p.fail("renew_on.statuses", "expected a list of HTTP statuses, e.g. [403]")
    for status in value:
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599 or 300 <= status <= 399:
            raise p.fail(
                "renew_on.statuses", f"{json.dumps(status)[:20]} is not an HTTP status 200-299 or 400-599 (e.g. 403)"
            )
    return frozenset(value)


def _post_authorize(p: _FieldReader, allow_http: bool) -> PostAuthorizeCall | None:
    data = p.json_object("post_authorize")
    if not data:
        return None
    url = data.get("url")
    if not isinstance(url, str) or not url.strip():
        raise p.fail("post_authorize", 'needs "url": the API URL to GET with the new token')
    capture = p.string_map("post_authorize.capture", data.get("capture") or {})
    if not capture:
        raise p.fail("post_authorize", 'needs "capture": {"name": "dotted.path"} of values to keep')
    return PostAuthorizeCall(
        url=check_endpoint_url(p.conn_id, "post_authorize.url", url.strip(), allow_http), capture=capture
    )


@dataclass(frozen=True)
class _KeyFile:
    """What the password field of the JWT bearer grant gives: the PEM key, and what a key file says beside it."""

    private_key: str = field(repr=False)
    issuer: str = ""
    audience: str = ""
    key_id: str = ""
    subject: str = ""
    client_secret: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)


def _key_file(conn_id: str, password: str | None) -> _KeyFile:
    """
    The service-account key in the password field: a PEM key, a Google JSON key file (``private_key``,
    ``client_email``, ``private_key_id``, ``token_uri``) or a Box app config JSON (``boxAppSettings.clientID``,
    ``clientSecret``, ``appAuth.publicKeyID``, ``privateKey``, ``passphrase``, and ``enterpriseID``).
    """
    key = (password or "").strip()
    if not key.startswith("{"):
        if "-----BEGIN" not in key:
            raise ProfileError(
                conn_id, "password", "expected a PEM private key or a JSON service-account key file (content not shown)"
            )
        return _KeyFile(private_key=key)
    try:
        fields = json.loads(key)
    except (ValueError, RecursionError):
        raise ProfileError(
            conn_id, "password", "the service-account key is not valid JSON (paste the whole key file)"
        ) from None
    if not isinstance(fields, Mapping):
        raise ProfileError(conn_id, "password", "the service-account key must be a JSON object")
    box = fields.get("boxAppSettings")
    if isinstance(box, Mapping):
        return _box_app_config(conn_id, fields, box)
    private_key = fields.get("private_key")
    if not isinstance(private_key, str) or "-----BEGIN" not in private_key:
        raise ProfileError(
            conn_id, "password", "the service-account key file has no PEM 'private_key' (is it the right file?)"
        )
    return _KeyFile(
        private_key=private_key,
        issuer=_text_of(fields, "client_email"),
        audience=_text_of(fields, "token_uri"),
        key_id=_text_of(fields, "private_key_id"),
    )


def _box_app_config(conn_id: str, fields: Mapping[str, Any], box: Mapping[str, Any]) -> _KeyFile:
    """Box's JWT app config (https://developer.box.com/guides/authentication/jwt/without-sdk/)."""
    app_auth = box.get("appAuth")
    app_auth = app_auth if isinstance(app_auth, Mapping) else {}
    private_key = app_auth.get("privateKey")
    if not isinstance(private_key, str) or "-----BEGIN" not in private_key:
        raise ProfileError(
            conn_id, "password", "the Box app config has no PEM 'boxAppSettings.appAuth.privateKey' (add a key pair)"
        )
    passphrase = app_auth.get("passphrase")
    enterprise = fields.get("enterpriseID")
    return _KeyFile(
        private_key=private_key,
        issuer=_text_of(box, "clientID"),
        key_id=_text_of(app_auth, "publicKeyID"),
        subject=str(enterprise).strip() if isinstance(enterprise, (str, int)) else "",
        client_secret=_text_of(box, "clientSecret") or None,
        passphrase=passphrase if isinstance(passphrase, str) and passphrase else None,
    )


def _jwt_bearer(
    conn_id: str, p: _FieldReader, login: str | None, password: str | None
) -> tuple[JwtBearer, str | None, str | None]:
    """
    The assertion settings, with the key parsed (and decrypted), the client secret a key file holds (Box's)
    and the passphrase used (the field's, else the key file's).
    """
    from airflow_oauth_connector.exceptions import JwtMaterialError, KeyPassphraseError
    from airflow_oauth_connector.jwt_material import load_signing_key

    check_secret(conn_id, GrantType.JWT_BEARER, None, password)
    key_file = _key_file(conn_id, password)
    issuer = p.text("jwt_issuer") or (login or "").strip() or key_file.issuer
    if not issuer:
        raise ProfileError(conn_id, "jwt_issuer", "the assertion's issuer is required (the client ID or client_email)")
    algorithm = p.text("jwt_algorithm") or "RS256"
    passphrase = _passphrase(p) or key_file.passphrase
    try:
        signing_key, _kid = load_signing_key(key_file.private_key, algorithm, passphrase)
    except KeyPassphraseError as exc:
        raise p.fail(PASSPHRASE_FIELD, str(exc)) from None
    except JwtMaterialError as exc:
        if str(exc).startswith("unsupported signing algorithm"):
            raise p.fail("jwt_algorithm", str(exc)) from None
        raise p.fail("password", f"the service-account key {exc} (content not shown)") from None
    settings = JwtBearer(
        private_key=key_file.private_key,
        issuer=issuer,
        audience=p.text("jwt_audience") or key_file.audience or None,
        subject=p.text("jwt_subject") or key_file.subject or None,
        key_id=p.text("jwt_key_id") or key_file.key_id or None,
        algorithm=algorithm,
        lifetime=p.number("jwt_lifetime", 3600.0, minimum=1),
        scope_in_claim=p.boolean("jwt_scope_in_claim", False),
        claims=p.string_map("jwt_claims"),
        signing_key=signing_key,
    )
    return settings, key_file.client_secret, passphrase


def _text_of(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    return value.strip() if isinstance(value, str) else ""


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


def placeholders_in(*templates: str) -> tuple[str, ...]:
    """The distinct ``{name}`` placeholders of ``templates``, in order of appearance."""
    names: dict[str, None] = {}
    for template in templates:
        for match in _PLACEHOLDER.finditer(template):
            names[match.group(1)] = None
    return tuple(names)


def fill_placeholders(conn_id: str, template: str, values: Mapping[str, str], *, url: bool = False) -> str:
    """
    ``template`` with each ``{name}`` replaced; a missing value raises :class:`CapturedValueMissingError`.

    With ``url``, a value anywhere but at the start is percent-encoded as one path segment (a captured
    ``realmId`` cannot add path segments or a query); a leading one stands for a whole origin
    (``{instance_url}``) and is checked as a URL by the caller instead.
    """
    if "{" not in template:
        return template

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = values.get(name)
        if found is None or found == "":
            raise CapturedValueMissingError(conn_id, name)
        text = str(found)
        return quote(text, safe="") if url and match.start() > 0 else text

    return _PLACEHOLDER.sub(value, template)


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


def check_secret(
    conn_id: str, grant_type: GrantType, client_auth: ClientAuthMethod | None, password: str | None
) -> None:
    """
    The password field's rule: the JWT bearer grant's service-account key, or the client secret (private key
    for ``private_key_jwt``) unless the client authentication needs none; blank counts as missing.
    ``client_auth``: ``None`` when not given (or not valid), which is the default, HTTP Basic.
    """
    if password and password.strip():
        return
    if grant_type is GrantType.JWT_BEARER:
        problem = "the JWT bearer grant needs the service account's private key here (PEM, or a JSON key file)"
    elif client_auth in _NO_SECRET_METHODS:
        return
    else:
        what = "private key (PEM or JWK)" if client_auth is ClientAuthMethod.PRIVATE_KEY_JWT else "client secret"
        problem = (
            f"the {what} is required unless {label_for('client_auth')} is 'none' (public client) "
            "or 'client_assertion_file'"
        )
    raise ProfileError(conn_id, "password", problem)


def _client_cert(conn_id: str, cert: str | None, key: str | None) -> str | tuple[str, str] | None:
    if key and not cert:
        raise ProfileError(conn_id, "client_key", "needs 'client_cert' (the certificate's PEM file) as well")
    if cert and key:
        return (cert, key)
    return cert


def _scope(value: str | None, separator: str = " ") -> str | None:
    """Scopes as the provider wants them sent: space-separated (RFC 6749 3.3) unless it says otherwise."""
    if value is None:
        return None
    parts = value.replace(",", " ").split()
    return separator.join(parts) or None


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token


def _check_header_name(conn_id: str, name: str, value: str) -> None:
    if not _HEADER_NAME.match(value):
        raise ProfileError(conn_id, name, f"{value[:40]!r} is not a valid HTTP header name")


def _base_url(conn_id: str, host: str | None, port: int | None, allow_http: bool) -> str:
    text = (host or "").strip()
    if not text:
        raise ProfileError(conn_id, "host", "the API base URL is required, e.g. https://api.example.com/v1")
    # A {name} placeholder (a value captured at authorization) is checked as a stand-in: a leading one
    # stands for a whole origin (Salesforce's {instance_url}), any other for one word.
    probe = _PLACEHOLDER.sub("placeholder", re.sub(r"^\{[^}]*\}", "https://placeholder.invalid", text))
    parts = _split_url(conn_id, "host", probe)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileError(conn_id, "host", "the API base URL needs a scheme and host, e.g. https://api.example.com/v1")
    _require_secure(conn_id, "host", parts.scheme, parts.hostname, allow_http)
    if port and parts.port is None and probe == text:
        text = _split_url(conn_id, "port", parts._replace(netloc=f"{parts.netloc}:{port}").geturl()).geturl()
    return text.rstrip("/")


def check_resolved_base_url(profile: OAuthProfile, url: str) -> str:
    """A base URL filled from captured values must still be https (or loopback): values come from a server."""
    return check_endpoint_url(profile.conn_id, "host", url, profile.allow_insecure_http).rstrip("/")


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

    def only_keys(
        self, name: str, data: Mapping[Any, Any], allowed: Sequence[str], expected: str, *, what: str = "key(s)"
    ) -> None:
        """Refuse ``data`` (field ``name``'s object) holding a key outside ``allowed``: "unknown key(s) …; expected"."""
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            raise self.fail(name, f"unknown {what} {', '.join(unknown)[:80]}; {expected}")

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
        return json_object(self.conn_id, name, self._raw(name))

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

    def header_map(self, name: str, value: Any = None) -> Mapping[str, str]:
        """:meth:`string_map` whose keys are HTTP header names."""
        headers = self.string_map(name, value)
        for header in headers:
            _check_header_name(self.conn_id, name, header)
        return headers

    def names(self, name: str) -> list[str]:
        """A list of names: a JSON list, or text separated by commas or spaces."""
        value = self._raw(name)
        if value is None:
            return []
        if isinstance(value, str) and value.strip().startswith("["):
            value = parse_json(self.conn_id, name, value)
        items = value.replace(",", " ").split() if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise self.fail(name, "expected a list of names")
        return [i.strip() for i in items]

    def access_params(self, name: str) -> AccessParams:
        data = self.json_object(name)
        self.only_keys(
            name,
            data,
            (*_ACCESS_PARAM_PARTS, *_REQUEST_KINDS),
            "expected an object with 'query', 'headers', 'body' and, for one kind of token request only, "
            "'exchange', 'refresh' or 'grant' holding the same parts",
            what="part(s)",
        )
        shared = self._request_params(name, {part: data[part] for part in _ACCESS_PARAM_PARTS if part in data})
        sections = {kind: self._request_params(f"{name}.{kind}", data.get(kind)) for kind in _REQUEST_KINDS}
        return AccessParams(query=shared.query, headers=shared.headers, body=shared.body, **sections)

    def _request_params(self, name: str, value: Any) -> RequestParams:
        """The ``query`` / ``headers`` / ``body`` parts of ``value`` (a JSON object; ``None``: none)."""
        if value is None or value == "":
            return RequestParams()
        if not isinstance(value, Mapping):
            raise self.fail(name, f"expected a JSON object with 'query', 'headers', 'body', got {type(value).__name__}")
        self.only_keys(name, value, _ACCESS_PARAM_PARTS, "expected 'query', 'headers', 'body'", what="part(s)")
        parts = {
            part: (self.header_map if part == "headers" else self.string_map)(f"{name}.{part}", value.get(part) or {})
            for part in _ACCESS_PARAM_PARTS
        }
        return RequestParams(**parts)


# -- the parser's checks one field at a time (airflow_oauth_connector.validation reports every bad field) -----
#: The choice fields and the values (with aliases) each accepts.
CHOICES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "grant_type": _GRANT_ALIASES,
        "client_auth": _CLIENT_AUTH_ALIASES,
        "store_backend": _TOKEN_STORES,
        "access_body": _TOKEN_BODIES,
        "access_method": _TOKEN_METHODS,
        "expires_format": _EXPIRES_FORMATS,
    }
)
_STRING_MAPS = ("authorize_params", "grant_params", "capture_response", "error_map", "jwt_claims")


def field_check(
    conn_id: str, extra: Mapping[str, Any], name: str, *, kind: str = "text", minimum: float = 0
) -> Callable[[], Any]:
    """
    The check :meth:`OAuthProfile.parse_applied` makes of extra ``name`` alone (``kind``: the field's kind in
    :mod:`airflow_oauth_connector.fields`): call it, and it raises the same :class:`ProfileError`. Checks
    that compare fields (required per grant type, key material) stay in the parser.
    """
    p = _FieldReader(conn_id, extra)

    def allow_http() -> bool:
        return _allows_http(p)

    special: Mapping[str, Callable[[], Any]] = {
        "access_params": lambda: p.access_params(name),
        "post_authorize": lambda: _post_authorize(p, allow_http()),
        "response_map": lambda: _response_map(p, GrantType.CLIENT_CREDENTIALS),
        "api_headers": lambda: p.header_map(name),
        "header_name": lambda: _check_header_name(conn_id, name, p.text(name) or "Authorization"),
        "header_prefix": lambda: p.prefix(name, "Bearer"),
        "scope_separator": lambda: p.prefix(name, " "),
        "capture_callback": lambda: p.names(name),
        "resource": lambda: _resources(p),
        "renew_on": lambda: _renew_on(p),
        "redirect_uri": lambda: p.url(name, allow_http=True),
        "client_key": lambda: _client_cert(conn_id, p.text("client_cert"), p.text(name)),
    }
    if name in special:
        return special[name]
    if name in CHOICES:
        return lambda: p.choice(name, CHOICES[name], None)
    if name in _STRING_MAPS:
        return lambda: p.string_map(name)
    by_kind: Mapping[str, Callable[[], Any]] = {
        "url": lambda: p.url(name, allow_http()),
        "json": lambda: p.json_object(name),
        "boolean": lambda: p.boolean(name, False),
        "integer": lambda: p.optional_number(name, minimum=minimum),
        "number": lambda: p.optional_number(name, minimum=minimum),
    }
    return by_kind.get(kind, lambda: p.text(name))


def check_base_url(conn_id: str, host: str | None, extra: Mapping[str, Any]) -> str:
    """The API base URL as the parser checks it (required, absolute, https unless loopback or allowed)."""
    return _base_url(conn_id, host, None, _allows_http(_FieldReader(conn_id, extra)))


def _allows_http(p: _FieldReader) -> bool:
    """
    ``allow_insecure_http`` for the per-field checks; a value that is no boolean is its own field's problem
    and counts as off here, so that every URL is still checked (and reported) as without it.
    """
    try:
        return p.boolean("allow_insecure_http", False)
    except ProfileError:
        return False
