"""
The ``oauth_connector`` connection's fields: one definition each (label, help, kind, grants, requirement).

Everything that presents or checks a field reads it from here: Airflow 3.2+'s declarative form
(:func:`conn_fields`, served by :mod:`airflow_oauth_connector.get_provider_info`), Airflow 3.1's WTForms widgets
(:mod:`airflow_oauth_connector.connection_form`), the native OAuth profiles page (:func:`form_schema`) and the
labelled problems of :mod:`airflow_oauth_connector.validation` and :class:`~.exceptions.ProfileError`.

Fields are listed in the order a newcomer fills them: the provider preset and the grant type, then the
essentials of every grant (token URL, client ID and secret, scope), then what one grant type needs
(authorization code, custom, password, JWT bearer, token exchange), then advanced settings. Extra key names
never change: they are what users' stored connections hold.

Read by Airflow while it configures itself (through ``get_provider_info``): nothing here may import Airflow,
and the provider presets' files are read (through :func:`airflow_oauth_connector.presets.load_preset`) only
when the provider dropdown's labels or :func:`form_schema` are first used, not at import.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from airflow_oauth_connector.config import StoreBackend

FieldKind = Literal["text", "url", "password", "json", "multiline", "boolean", "choice", "integer", "number"]

#: Grant types in the order the form offers them, with a label and a one-line description.
GRANT_TYPES: tuple[tuple[str, str, str], ...] = (
    ("client_credentials", "Client credentials", "Machine to machine, with the client's own credentials."),
    (
        "authorization_code",
        "Authorization code",
        "A person authorizes once (Authorize on the OAuth profiles page); tasks use the stored refresh token.",
    ),
    (
        "jwt_bearer",
        "JWT bearer (service-account key)",
        "RFC 7523: a service-account key signs an assertion (Google service accounts, Salesforce JWT).",
    ),
    ("custom", "Custom grant", "A provider's own grant_type value with extra parameters (Zoom account_credentials)."),
    ("password", "Password (legacy)", "Resource-owner password credentials (RFC 6749 4.3); only for legacy APIs."),
    (
        "token_exchange",
        "Token exchange (workload identity)",
        "RFC 8693: exchange a workload's identity token, read from a file, for an access token.",
    ),
)
GRANT_NAMES: tuple[str, ...] = tuple(value for value, _label, _description in GRANT_TYPES)
#: Grant types as prose names ("required for authorization code").
GRANT_SHORT_NAMES: Mapping[str, str] = {
    "client_credentials": "client credentials",
    "authorization_code": "authorization code",
    "jwt_bearer": "JWT bearer",
    "custom": "custom grant",
    "password": "password grant",
    "token_exchange": "token exchange",
}

#: Sections of the form, in order (Airflow 3.2+ renders each as a folding section of its own).
ESSENTIALS = "OAuth: essentials"
AUTHORIZATION_CODE = "OAuth: authorization code only"
OTHER_GRANTS = "OAuth: other grant types"
ADVANCED = "OAuth: advanced (optional)"
STANDARD = "Standard fields"
SECTIONS: tuple[str, ...] = (STANDARD, ESSENTIALS, AUTHORIZATION_CODE, OTHER_GRANTS, ADVANCED)

_ALL: tuple[str, ...] = GRANT_NAMES
_AUTH_CODE = ("authorization_code",)


@dataclass(frozen=True)
class FieldSpec:
    """One connection field: a standard attribute (``host``, ``login``, ``password``) or an extra key."""

    name: str
    """The extra key (or standard attribute) the value is stored under."""
    label: str
    """Short name, also used in problems: ``Token parameters (access_params): …``."""
    description: str
    kind: FieldKind = "text"
    options: Sequence[tuple[str, str]] = ()
    """``choice`` fields: (value, display label) pairs, in the order offered."""
    default: Any = None
    grants: tuple[str, ...] | None = None
    """Grant types the field applies to; ``None``: all."""
    required_for: tuple[str, ...] = ()
    """Grant types that need a value (a provider preset or an issuer URL may supply it: ``required_unless``)."""
    required_unless: str = ""
    """What else satisfies the requirement (``Issuer URL is set or the provider preset gives it``)."""
    advanced: bool = False
    section: str = ESSENTIALS
    standard: bool = False
    """A standard connection attribute rather than an extra key."""
    in_form: bool = True
    """Shown in Airflow's connection form; ``False``: an advanced key set in the form's Extra JSON."""
    placeholder: str | None = None
    minimum: float | None = None
    """``integer`` / ``number`` fields: the smallest accepted value."""

    @property
    def form_label(self) -> str:
        """The label the forms show: the label and whether the field is required, grant-specific or advanced."""
        note = self.requirement
        return f"{self.label} ({note})" if note else self.label

    @property
    def requirement(self) -> str:
        """``required``, ``authorization code only``, ``required for custom grant``, ``advanced`` or empty."""
        applies = self.grants or GRANT_NAMES
        if self.required_for and set(self.required_for) >= set(GRANT_NAMES):
            return "required"
        if self.required_for and set(self.required_for) >= set(applies):
            return f"required for {grant_list(self.required_for)}"
        if self.required_for and self.grants is None and len(GRANT_NAMES) - len(self.required_for) <= 2:
            return f"required except for {grant_list(g for g in GRANT_NAMES if g not in self.required_for)}"
        if self.grants is not None and set(self.grants) != set(GRANT_NAMES):
            return f"{grant_list(self.grants)} only"
        return "advanced" if self.advanced else ""

    @property
    def form_description(self) -> str:
        """The description, led by the requirement when the label does not say it all."""
        note = self.requirement
        if not note or note == "required":
            lead = ""
        elif note == "advanced":
            lead = "Advanced, optional."
        elif note.endswith(" only") and self.required_for:
            lead = f"{note[0].upper()}{note[1:]}; required for {grant_list(self.required_for)}."
        else:
            lead = f"{note[0].upper()}{note[1:]}."
        return f"{lead} {self.description}".strip()

    def applies_to(self, grant_type: str) -> bool:
        return self.grants is None or grant_type in self.grants


def grant_list(grants: Iterable[str]) -> str:
    """``authorization code``, ``custom grant, client credentials and password grant``: grants as prose."""
    names = [GRANT_SHORT_NAMES[g] for g in grants]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class _LazyOptions(Sequence[tuple[str, str]]):
    """A choice field's options, made by ``load`` when first used (not when this module is imported)."""

    def __init__(self, load: Callable[[], tuple[tuple[str, str], ...]]) -> None:
        self._load = load

    @overload
    def __getitem__(self, index: int) -> tuple[str, str]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[str, str]]: ...
    def __getitem__(self, index: int | slice) -> tuple[str, str] | Sequence[tuple[str, str]]:
        return self._load()[index]

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._load.__name__})"


@functools.cache
def _provider_options() -> tuple[tuple[str, str], ...]:
    """``custom``, then (slug, display name) of every preset, read once from the preset files."""
    from airflow_oauth_connector.presets import CUSTOM, load_preset, preset_names

    return ((CUSTOM, "Custom (no preset)"), *((slug, load_preset(slug).name) for slug in preset_names()))


_CLIENT_AUTH: tuple[tuple[str, str], ...] = (
    ("header", "HTTP Basic header (client_secret_basic)"),
    ("body", "In the request body (client_secret_post)"),
    ("none", "None: public client (use PKCE)"),
    ("private_key_jwt", "Signed with a private key (private_key_jwt)"),
    ("client_secret_jwt", "Signed with the secret (client_secret_jwt)"),
    ("client_assertion_file", "Federated assertion from a file"),
)
_STORES = {
    "file": "File (one machine)",
    "redis": "Redis (many hosts)",
    "variables": "Airflow Variables",
    "memory": "Memory (per process)",
}

# Extra keys are named so that Airflow's secrets masker (which hides any key *containing* a word like "token",
# "secret", "authorization") masks the secrets and leaves URLs and settings readable.
FIELDS: tuple[FieldSpec, ...] = (
    # --------------------------------------------------------------------------------- what, and how
    FieldSpec(
        "provider",
        "Provider",
        "A preset fills every OAuth setting with the provider's real values (Custom: none); any field you set "
        "yourself wins. See the README's provider table.",
        kind="choice",
        options=_LazyOptions(_provider_options),
        default="custom",
        required_for=_ALL,
    ),
    FieldSpec(
        "grant_type",
        "Grant type",
        "How the token is obtained; pick it first. A field for one grant type only says so in its label, and "
        "the sections below group them: authorization code, other grant types (custom, password, JWT bearer, "
        "token exchange), advanced.",
        kind="choice",
        options=tuple((value, label) for value, label, _d in GRANT_TYPES),
        default="client_credentials",
        required_for=_ALL,
    ),
    FieldSpec(
        "provider_params",
        "Provider parameters",
        'What the preset needs, as a JSON object, e.g. {"tenant": "contoso.onmicrosoft.com"} (microsoft), '
        '{"region": "eu"} (zoho), {"shop": "acme.myshopify.com"} (shopify). Empty for Custom.',
        kind="json",
    ),
    # --------------------------------------------------------------------------- essentials of every grant
    FieldSpec(
        "host",
        "API base URL",
        "Base URL of the API; endpoints are relative to it and the token is only sent to its origin. https "
        "(http only for loopback hosts). A provider preset fills it.",
        kind="url",
        required_for=_ALL,
        required_unless="the provider preset gives it",
        section=STANDARD,
        standard=True,
        placeholder="https://api.example.com/v1",
    ),
    FieldSpec(
        "login",
        "Client ID",
        "The client ID the provider issued (JWT bearer: the issuer, else the key file's client_email or Box clientID).",
        required_for=tuple(g for g in GRANT_NAMES if g != "jwt_bearer"),
        section=STANDARD,
        standard=True,
        placeholder="client ID issued by the provider",
    ),
    FieldSpec(
        "password",
        "Client secret",
        "The client secret; empty only when Client authentication is none (public client) or "
        "client_assertion_file. Private key (PEM or JWK) for private_key_jwt; JWT bearer: the service-account "
        "key (PEM, a Google JSON key file, or a Box app config JSON).",
        kind="password",
        required_for=_ALL,
        required_unless="Client authentication is none (public client) or client_assertion_file",
        section=STANDARD,
        standard=True,
        placeholder="client secret (leave empty for a public client)",
    ),
    FieldSpec(
        "access_url",
        "Access token URL",
        "The token endpoint, e.g. https://auth.example.com/oauth/token (https; http only for loopback). Not "
        "needed when Issuer URL is set or the provider preset gives it.",
        kind="url",
        required_for=_ALL,
        required_unless="Issuer URL is set or the provider preset gives it",
    ),
    FieldSpec("scope", "Scope", "Space-separated scopes to request, e.g. 'read write'."),
    FieldSpec(
        "client_auth",
        "Client authentication",
        "How the client proves itself at the token endpoint: "
        + "; ".join(f"{value} = {label}" for value, label in _CLIENT_AUTH)
        + ". The private key (PEM or JWK) of private_key_jwt goes in the Client secret field.",
        kind="choice",
        options=_CLIENT_AUTH,
        default="header",
    ),
    FieldSpec(
        "issuer_url",
        "Issuer URL (discovery)",
        "Optional. Token and authorization URLs left empty are read from the issuer's "
        "/.well-known/oauth-authorization-server or /.well-known/openid-configuration.",
        kind="url",
    ),
    # --------------------------------------------------------------------------------- authorization code
    FieldSpec(
        "authorize_url",
        "Authorization URL",
        "The authorization endpoint, e.g. https://auth.example.com/oauth/authorize. Not needed when Issuer URL "
        "is set or the provider preset gives it.",
        kind="url",
        grants=_AUTH_CODE,
        required_for=_AUTH_CODE,
        required_unless="Issuer URL is set or the provider preset gives it",
        section=AUTHORIZATION_CODE,
    ),
    FieldSpec(
        "redirect_uri",
        "Redirect URI",
        "The callback registered at the provider. Leave empty to use the one the OAuth profiles page shows.",
        kind="url",
        grants=_AUTH_CODE,
        section=AUTHORIZATION_CODE,
    ),
    FieldSpec(
        "pkce",
        "PKCE (S256)",
        "Send a PKCE code challenge with the authorization request (RFC 7636). Keep on unless the provider rejects it.",
        kind="boolean",
        default=True,
        grants=_AUTH_CODE,
        section=AUTHORIZATION_CODE,
    ),
    FieldSpec(
        "authorize_params",
        "Auth parameters",
        'Extra query parameters of the authorization request, as a JSON object, e.g. {"access_type": '
        '"offline", "prompt": "consent"}.',
        kind="json",
        grants=_AUTH_CODE,
        section=AUTHORIZATION_CODE,
    ),
    FieldSpec(
        "refresh_token",
        "Refresh token",
        "Set by the Authorize flow; may also be pasted here.",
        kind="password",
        grants=_AUTH_CODE,
        section=AUTHORIZATION_CODE,
    ),
    FieldSpec(
        "device_url",
        "Device authorization URL",
        "Optional. For headless authorization with `airflow-oauth-connector authorize --device` (RFC 8628); "
        "else read from the issuer's metadata.",
        kind="url",
        grants=_AUTH_CODE,
        section=AUTHORIZATION_CODE,
    ),
    FieldSpec(
        "par",
        "Pushed authorization requests",
        "RFC 9126: push the authorization request to the server first (needs 'Issuer URL'). Done anyway when "
        "the server's metadata requires it.",
        kind="boolean",
        default=False,
        grants=_AUTH_CODE,
        advanced=True,
        section=AUTHORIZATION_CODE,
    ),
    FieldSpec(
        "capture_callback",
        "Captured callback parameters",
        "Callback query parameters kept with the grant, e.g. realmId (use as {realmId}).",
        grants=_AUTH_CODE,
        advanced=True,
        section=AUTHORIZATION_CODE,
    ),
    FieldSpec(
        "code_param",
        "Callback code parameter",
        "Name of the callback parameter holding the authorization code (default code).",
        grants=_AUTH_CODE,
        advanced=True,
        section=AUTHORIZATION_CODE,
    ),
    # ---------------------------------------------------------------------------------- other grant types
    FieldSpec(
        "custom_grant_type",
        "Custom grant type",
        "The grant_type value to send, e.g. account_credentials (Zoom).",
        grants=("custom",),
        required_for=("custom",),
        section=OTHER_GRANTS,
    ),
    FieldSpec(
        "grant_params",
        "Grant parameters",
        "Parameters of the token request that obtains a new grant (not of refreshes), as a JSON object, e.g. "
        '{"account_id": "..."}.',
        kind="json",
        grants=("custom", "client_credentials", "password"),
        section=OTHER_GRANTS,
    ),
    FieldSpec(
        "username",
        "Username",
        "The resource owner's name.",
        grants=("password",),
        required_for=("password",),
        section=OTHER_GRANTS,
    ),
    FieldSpec(
        "user_password",
        "User password",
        "The resource owner's password.",
        kind="password",
        grants=("password",),
        required_for=("password",),
        section=OTHER_GRANTS,
    ),
    FieldSpec(
        "jwt_subject",
        "JWT subject",
        "The 'sub' claim (the user to act as: Google domain-wide delegation, Salesforce username, DocuSign user "
        "ID; default: a Box app config's enterpriseID). The key goes in the Client secret field (PEM, a Google "
        "JSON key file or a Box app config JSON).",
        grants=("jwt_bearer",),
        section=OTHER_GRANTS,
    ),
    FieldSpec(
        "jwt_audience",
        "JWT audience",
        "The 'aud' claim (default: the token URL, or the key file's token_uri).",
        grants=("jwt_bearer",),
        section=OTHER_GRANTS,
    ),
    FieldSpec(
        "jwt_issuer",
        "JWT issuer",
        "The 'iss' claim (default: the client ID, or the key file's client_email).",
        grants=("jwt_bearer",),
        section=OTHER_GRANTS,
    ),
    FieldSpec(
        "subject_token_file",
        "Subject token file",
        "Path of the workload's identity token (a JWT), read again at every token request. Airflow masks this "
        "field by its name; it holds a path, not a secret.",
        grants=("token_exchange",),
        required_for=("token_exchange",),
        section=OTHER_GRANTS,
    ),
    FieldSpec(
        "subject_token_type",
        "Subject token type",
        "Default urn:ietf:params:oauth:token-type:jwt.",
        grants=("token_exchange",),
        section=OTHER_GRANTS,
    ),
    FieldSpec(
        "requested_token_type",
        "Requested token type",
        "Optional, e.g. urn:ietf:params:oauth:token-type:access_token.",
        grants=("token_exchange",),
        section=OTHER_GRANTS,
    ),
    FieldSpec(
        "audience",
        "Audience",
        "Optional: the logical name of the target service (RFC 8693 2.1).",
        grants=("token_exchange",),
        section=OTHER_GRANTS,
    ),
    # ------------------------------------------------------------------------------------------- advanced
    FieldSpec(
        "access_params",
        "Token parameters",
        'Extra parameters on every token request, refreshes included, as a JSON object {"query": {...}, '
        '"headers": {...}, "body": {...}} of strings, e.g. {"body": {"audience": "https://api.example.com"}}. '
        'For one kind of request only, the same parts go under "exchange" (the authorization-code exchange), '
        '"refresh" (refresh-token requests) or "grant" (client credentials, password, JWT bearer, custom, token '
        'exchange) and win over the shared ones, e.g. {"exchange": {"body": {"expiring": "1"}}}.',
        kind="json",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "store_backend",
        "Token store",
        "Where tokens are kept and shared: "
        + "; ".join(f"{name} = {_STORES.get(name, name)}" for name in StoreBackend.names())
        + ". Empty: the provider-wide [oauth_connector] token_store option.",
        kind="choice",
        options=tuple((name, _STORES.get(name, name)) for name in StoreBackend.names()),
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "signing_alg",
        "Assertion signing algorithm",
        "JWS algorithm of private_key_jwt (default RS256; also PS256, ES256, EdDSA, ...) or client_secret_jwt "
        "(default HS256) assertions.",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "key_id",
        "Assertion key ID",
        "The 'kid' the provider registered for the client's key (default: the JWK's kid).",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "jwt_key_passphrase",
        "Private key passphrase",
        "Passphrase of an encrypted PEM private key in the Client secret field (ENCRYPTED PRIVATE KEY, or a "
        "traditional Proc-Type: 4,ENCRYPTED key): the JWT bearer key, or private_key_jwt's key. A Box app config "
        "JSON carries its own.",
        kind="password",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "client_assertion_file",
        "Client assertion file",
        "Needed with Client authentication client_assertion_file: path of a JWT issued to the workload (e.g. a "
        "projected service-account token); read again at every token request.",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "resource",
        "Resource indicators",
        "RFC 8707: space-separated absolute URIs of the APIs the token is for; sent on authorization and token "
        "requests.",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "dpop",
        "DPoP-bound tokens",
        "RFC 9449: request tokens bound to a key pair kept with the token, and send a fresh DPoP proof with "
        "every API request (Authorization: DPoP <token>).",
        kind="boolean",
        default=False,
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "access_body",
        "Token request body",
        "form = application/x-www-form-urlencoded (the standard); json = a JSON body (Notion, Atlassian, ...).",
        kind="choice",
        options=(("form", "Form-encoded (standard)"), ("json", "JSON")),
        default="form",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "access_method",
        "Token request method",
        "POST (the standard) or GET (parameters in the query string; a few legacy providers).",
        kind="choice",
        options=(("POST", "POST (standard)"), ("GET", "GET (legacy)")),
        default="POST",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "refresh_url",
        "Refresh URL",
        "A separate endpoint for refresh-token requests (default: the access-token URL).",
        kind="url",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "response_map",
        "Token response paths",
        'Where the token response keeps its fields, as a JSON object of dotted paths: {"access_token": '
        '"authed_user.access_token", "refresh_token": ..., "expires": ..., "refresh_expires": ..., "token_type": ..., '
        '"scope": ...}; '
        "a|b tries a, then b.",
        kind="json",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "expires_format",
        "Expiry format",
        "How the response states the lifetime: seconds (expires_in), epoch, epoch_ms, timestamp (ISO 8601), or "
        "fixed (always 'default_expires_in').",
        kind="choice",
        options=(
            ("seconds", "Seconds from now (expires_in)"),
            ("epoch", "Epoch seconds"),
            ("epoch_ms", "Epoch milliseconds"),
            ("timestamp", "ISO 8601 timestamp"),
            ("fixed", "Fixed (default_expires_in)"),
        ),
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "capture_response",
        "Captured response fields",
        'Token-response fields kept with the grant, as a JSON object name -> dotted path, e.g. {"instance_url": '
        '"instance_url"}; use them as {instance_url} in the base URL or API headers.',
        kind="json",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "post_authorize",
        "Post-authorization call",
        "One GET made with the new token after authorization (grants without a person: after each new token), "
        'and values to keep from its JSON: {"url": "https://api.xero.com/connections", "capture": {"tenant_id": '
        '"0.tenantId"}}.',
        kind="json",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "api_headers",
        "API headers",
        'Fixed headers on every API call, as a JSON object, e.g. {"Notion-Version": "2022-06-28"}; values may '
        'use captured values, e.g. {"Xero-Tenant-Id": "{tenant_id}"}.',
        kind="json",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "header_name",
        "Token header",
        "Header that carries the access token (default Authorization), e.g. X-Shopify-Access-Token.",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "header_prefix",
        "Token scheme",
        "Scheme before the token (default Bearer), e.g. Zoho-oauthtoken; empty for none.",
        advanced=True,
        section=ADVANCED,
    ),
    FieldSpec(
        "renew_on",
        "Renew signals",
        "API answers besides a 401 that mean the token expired: it is renewed once and the request sent again. "
        'A JSON object of "statuses" (e.g. [403]) and/or a JSON body condition, "path" (dotted) with "values", '
        'e.g. {"statuses": [200], "path": "error", "values": ["token_expired"]} (Slack); both given, both must '
        "hold. A body is read only from a JSON answer of at most 64 KiB (never for a streamed call).",
        kind="json",
        advanced=True,
        section=ADVANCED,
    ),
    # ------------------------------------------------------- advanced keys set in the form's Extra JSON
    FieldSpec(
        "query_param",
        "Token query parameter",
        "Send the token as this query parameter instead of a header.",
        advanced=True,
        section=ADVANCED,
        in_form=False,
    ),
    FieldSpec(
        "scope_separator",
        "Scope separator",
        "How scopes are joined when sent (Shopify, Slack, Pinterest: ','); default a space.",
        advanced=True,
        section=ADVANCED,
        in_form=False,
    ),
    FieldSpec(
        "error_map",
        "Error code map",
        "A provider's own error codes -> OAuth error codes, as a JSON object, e.g. "
        '{"BAD_REFRESH_TOKEN": "invalid_grant"}.',
        kind="json",
        advanced=True,
        section=ADVANCED,
        in_form=False,
    ),
    FieldSpec(
        "timeout",
        "Request timeout",
        "Seconds per HTTP request, token and API calls (default 30).",
        kind="number",
        advanced=True,
        section=ADVANCED,
        in_form=False,
        minimum=0.1,
    ),
    FieldSpec(
        "expiry_leeway",
        "Expiry leeway",
        "Refresh this many seconds before the token expires (default 60).",
        kind="number",
        advanced=True,
        section=ADVANCED,
        in_form=False,
        minimum=0,
    ),
    FieldSpec(
        "default_expires_in",
        "Default token lifetime",
        "Lifetime in seconds assumed when the token response states none (needed with expiry format fixed).",
        kind="number",
        advanced=True,
        section=ADVANCED,
        in_form=False,
        minimum=1,
    ),
    FieldSpec(
        "retry_max_attempts",
        "Retry attempts",
        "Attempts in all, per call; 1 disables retries (default 5).",
        kind="integer",
        advanced=True,
        section=ADVANCED,
        in_form=False,
        minimum=1,
    ),
    FieldSpec(
        "retry_max_seconds",
        "Retry time limit",
        "Bound in seconds on one call's retries, waits included (default 120).",
        kind="number",
        advanced=True,
        section=ADVANCED,
        in_form=False,
        minimum=0.1,
    ),
    FieldSpec(
        "retry_non_idempotent",
        "Retry non-idempotent calls",
        "Replay POST/PATCH after a read timeout or 5xx (default false).",
        kind="boolean",
        advanced=True,
        section=ADVANCED,
        in_form=False,
    ),
    FieldSpec(
        "verify_tls",
        "Verify TLS",
        "TLS certificate verification on token and API requests (default true).",
        kind="boolean",
        advanced=True,
        section=ADVANCED,
        in_form=False,
    ),
    FieldSpec(
        "ca_bundle",
        "CA bundle",
        "Path of a CA bundle to verify TLS with instead of the system's.",
        advanced=True,
        section=ADVANCED,
        in_form=False,
    ),
    FieldSpec(
        "client_cert",
        "Client certificate",
        "Mutual TLS: path of the client certificate's PEM file (the key may be inside it).",
        advanced=True,
        section=ADVANCED,
        in_form=False,
    ),
    FieldSpec(
        "client_key",
        "Client certificate key",
        "Mutual TLS: path of the client certificate's key (PEM), when not inside the certificate file.",
        advanced=True,
        section=ADVANCED,
        in_form=False,
    ),
    FieldSpec(
        "allow_insecure_http",
        "Allow plain http",
        "Accept plain-http URLs on non-loopback hosts (closed test networks only; default false).",
        kind="boolean",
        advanced=True,
        section=ADVANCED,
        in_form=False,
    ),
    FieldSpec(
        "jwt_algorithm",
        "JWT signing algorithm",
        "Algorithm of the JWT bearer assertion (default RS256; ES256, PS256, ...).",
        grants=("jwt_bearer",),
        advanced=True,
        section=ADVANCED,
        in_form=False,
    ),
    FieldSpec(
        "jwt_key_id",
        "JWT key ID",
        "'kid' header of the JWT bearer assertion (default: the key file's private_key_id).",
        grants=("jwt_bearer",),
        advanced=True,
        section=ADVANCED,
        in_form=False,
    ),
    FieldSpec(
        "jwt_lifetime",
        "JWT lifetime",
        "Seconds the JWT bearer assertion is valid (default 3600).",
        kind="number",
        grants=("jwt_bearer",),
        advanced=True,
        section=ADVANCED,
        in_form=False,
        minimum=1,
    ),
    FieldSpec(
        "jwt_scope_in_claim",
        "Scope in the JWT",
        "Put the scope in the assertion (Google) instead of a scope parameter (default false).",
        kind="boolean",
        grants=("jwt_bearer",),
        advanced=True,
        section=ADVANCED,
        in_form=False,
    ),
    FieldSpec(
        "jwt_claims",
        "Extra JWT claims",
        'Further claims of the JWT bearer assertion, as a JSON object, e.g. {"box_sub_type": "enterprise"}.',
        kind="json",
        grants=("jwt_bearer",),
        advanced=True,
        section=ADVANCED,
        in_form=False,
    ),
)

BY_NAME: Mapping[str, FieldSpec] = {spec.name: spec for spec in FIELDS}
STANDARD_FIELDS: tuple[FieldSpec, ...] = tuple(spec for spec in FIELDS if spec.standard)
FORM_FIELDS: tuple[FieldSpec, ...] = tuple(spec for spec in FIELDS if not spec.standard and spec.in_form)
"""The extras of Airflow's connection form, in form order."""

#: What Airflow's connection form stores for a field the user left alone (its declared default).
FORM_DEFAULTS: Mapping[str, Any] = {spec.name: spec.default for spec in FORM_FIELDS if spec.default is not None}
#: Labels of names that are no field of their own (problems may name them).
_OTHER_LABELS = {"extra": "Extra", "port": "Port", "conn_type": "Connection type"}


def label_for(name: str) -> str:
    """The label of field ``name``; a dotted name (``access_params.query``) takes its field's label."""
    spec = BY_NAME.get(name) or BY_NAME.get(name.split(".", 1)[0])
    if spec is not None:
        return spec.label
    return _OTHER_LABELS.get(name, name)


# --------------------------------------------------------------------------------- Airflow 3.2+ conn-fields
_JSON_TYPES: Mapping[str, str] = {
    "text": "string",
    "url": "string",
    "password": "string",
    "multiline": "string",
    "choice": "string",
    "json": "object",
    "boolean": "boolean",
    "integer": "integer",
    "number": "number",
}
_FORMATS: Mapping[str, str] = {"url": "url", "password": "password", "multiline": "multiline"}


def json_schema(spec: FieldSpec) -> dict[str, Any]:
    """
    The field's JSON schema as Airflow's React form reads it (3.2+).

    What the form enforces: a type without ``null`` marks the field required (Save stays disabled while
    it is empty); an ``object`` field is a JSON editor that refuses invalid JSON. ``format: url`` only
    renders; ``values_display`` labels a dropdown's values; ``section`` groups fields into folding sections.
    Only fields required for every grant and with a default are declared required: the form cannot
    make a field required for one grant type (:mod:`airflow_oauth_connector.validation` checks those).
    A JSON field stored as text by an earlier version stays valid (the profile parses both).

    Everything else about a field stays here, not in the provider info: provider.yaml's schema allows only
    ``label``, ``description`` and ``schema`` per field (extra keys are allowed inside ``schema``, where
    Airflow's ``_to_api_format`` passes them to the form as they are); the runtime provider-info schema does
    not look into ``conn-fields``.
    """
    json_type = _JSON_TYPES[spec.kind]
    required = spec.requirement == "required" and spec.default is not None
    schema: dict[str, Any] = {"type": json_type if required else [json_type, "null"]}
    if spec.kind in _FORMATS:
        schema["format"] = _FORMATS[spec.kind]
    if spec.options:
        schema["enum"] = [value for value, _label in spec.options]
        labels = {value: label for value, label in spec.options if label != value}
        if labels:
            schema["values_display"] = labels
    if spec.default is not None:
        schema["default"] = spec.default
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    schema["section"] = spec.section
    return schema


def conn_fields() -> dict[str, dict[str, Any]]:
    """``conn-fields`` of the provider info: label, description and JSON schema of each form extra."""
    return {
        spec.name: {"label": conn_field_label(spec), "description": spec.form_description, "schema": json_schema(spec)}
        for spec in FORM_FIELDS
    }


def conn_field_label(spec: FieldSpec) -> str:
    """The 3.2+ form's label: where the schema marks the field required (an asterisk), the label need not say it."""
    return spec.label if isinstance(json_schema(spec)["type"], str) else spec.form_label


def ui_field_behaviour() -> dict[str, Any]:
    """``ui-field-behaviour``: the unused standard fields hidden, the used ones relabelled, with placeholders."""
    return {
        "hidden-fields": ["schema", "port"],
        "relabeling": {spec.name: spec.form_label for spec in STANDARD_FIELDS},
        "placeholders": {spec.name: spec.placeholder for spec in STANDARD_FIELDS if spec.placeholder},
    }


# ------------------------------------------------------------------------------------- the native page
def form_schema() -> dict[str, Any]:
    """
    The form as JSON for the native OAuth profiles page: grant types, every field, the provider presets.

    Fields come in form order; ``grants`` is ``null`` for a field of every grant type; a preset lists the
    fields it fills (``fills``) and the ``provider_params`` it needs (``params``).
    """
    return {
        "grant_types": [
            {"value": value, "label": label, "description": description} for value, label, description in GRANT_TYPES
        ],
        "sections": list(SECTIONS),
        "fields": [_field_json(spec) for spec in FIELDS],
        "presets": _preset_summaries(),
    }


def _field_json(spec: FieldSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "label": spec.label,
        "form_label": spec.form_label,
        "description": spec.form_description,
        "kind": spec.kind,
        "options": [{"value": value, "label": label} for value, label in spec.options],
        "default": spec.default,
        "grants": None if spec.grants is None else list(spec.grants),
        "required_for": list(spec.required_for),
        "required_unless": spec.required_unless,
        "advanced": spec.advanced,
        "section": spec.section,
        "standard": spec.standard,
        "in_form": spec.in_form,
        "placeholder": spec.placeholder,
    }


@functools.cache
def _preset_summaries() -> list[dict[str, Any]]:
    from airflow_oauth_connector.presets import load_preset, preset_names

    summaries = []
    for slug in preset_names():
        preset = load_preset(slug)
        grant = str(preset.fields.get("grant_type") or "client_credentials")
        grants = [grant, *(g for g in preset.grant_fields if g != grant)]
        fills = {*preset.fields, *(k for fields in preset.grant_fields.values() for k in fields)}
        summaries.append(
            {
                "name": slug,
                "label": preset.name,
                "grant_type": grant,
                "grant_types": grants,
                "docs": preset.raw.get("docs"),
                "params": [
                    {
                        "name": param.name,
                        "description": param.description,
                        "default": param.default,
                        "choices": list(param.choices),
                        "required": param.default is None,
                    }
                    for param in preset.params.values()
                ],
                "fills": [spec.name for spec in FIELDS if spec.name in fills],
                "register": dict(preset.raw.get("register") or {}),
            }
        )
    return summaries
