"""
Typed errors raised by the provider; each message says what to do and never carries a secret.

Every public exception of the package is defined here and subclasses :class:`OAuthConnectorError`; names
end in ``Error`` (older names are kept as aliases: ``ResponseCheckFailed``, ``TokenStoreLockTimeout``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk.exceptions import AirflowException

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 3.1: the task runner catches airflow.exceptions' class
    from airflow.exceptions import AirflowFailException  # type: ignore[attr-defined,no-redef,unused-ignore]

if TYPE_CHECKING:
    from typing_extensions import Self

    from airflow_oauth_connector.validation import FieldProblem


class OAuthConnectorError(AirflowException):
    """Base class of every error this provider raises."""

    #: The positional and keyword arguments the error was built with (``events.py`` rebuilds an error
    #: raised in the triggerer from them, so that it keeps its type across a deferral).
    arguments: tuple[tuple[Any, ...], dict[str, Any]]

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        error = super().__new__(cls, *args)
        error.arguments = (args, kwargs)
        return error

    def located(self, conn_id: str, **where: str) -> Self:
        """
        This error naming the connection and ``where`` it failed (``url=``: the token URL, no query; or
        ``field=`` and ``what=`` for an unreachable endpoint), built again from its ``arguments``; the error
        itself when it names a connection already. Only for the errors raised before their connection is known,
        whose constructors take these keywords: token responses, token endpoint errors, unreachable endpoints.
        """
        if getattr(self, "conn_id", None):
            return self
        args, kwargs = self.arguments
        return type(self)(*args, **{**kwargs, "conn_id": conn_id, **where})


class ProfileError(OAuthConnectorError):
    """A connection's OAuth profile is invalid: ``field`` names the offending field (its key)."""

    def __init__(self, conn_id: str, field: str, problem: str) -> None:
        self.conn_id = conn_id
        self.field = field
        self.problem = problem
        super().__init__(f"Connection {conn_id!r}: {labelled(field, problem)}")


def labelled(field: str, problem: str, label: str | None = None) -> str:
    """
    ``Token parameters (access_params): problem``: a problem named by the form's label and the key (the one
    wording of every settings problem; ``label`` defaults to the field's label in the form).
    """
    if label is None:
        from airflow_oauth_connector.fields import label_for

        label = label_for(field)
    return f"{label} ({field}): {problem}" if label != field else f"{field}: {problem}"


class ConnectionSettingsError(ProfileError):
    """
    A connection's settings fail the checks of :mod:`airflow_oauth_connector.validation`: ``problems`` lists
    each one (field key, form label, message); the message names them all and where to fix them.
    """

    def __init__(self, conn_id: str, problems: Sequence[FieldProblem | Mapping[str, str]]) -> None:
        """``problems``: :class:`~.validation.FieldProblem` objects or their ``as_dict()`` (plain JSON, so the
        error keeps its type across a deferral)."""
        from airflow_oauth_connector.validation import FieldProblem

        if not problems:
            raise ValueError("ConnectionSettingsError needs at least one problem")
        self.problems = tuple(
            p if isinstance(p, FieldProblem) else FieldProblem(str(p["field"]), str(p["label"]), str(p["message"]))
            for p in problems
        )
        first = self.problems[0]
        self.conn_id, self.field, self.problem = conn_id, first.field, first.message
        where = "Admin > Connections (Edit) or the OAuth profiles page, then press Test"
        if len(self.problems) == 1:
            text = f"Connection {conn_id!r}: {first}. Fix it in {where}."
        else:
            listed = "; ".join(str(problem) for problem in self.problems)
            text = f"Connection {conn_id!r} has {len(self.problems)} invalid settings: {listed}. Fix them in {where}."
        OAuthConnectorError.__init__(self, text)


class DiscoveryError(OAuthConnectorError):
    """The issuer's metadata document could not be fetched or lacks an endpoint."""


class TokenResponseError(OAuthConnectorError):
    """The token endpoint answered with something that is not a usable token response."""

    def __init__(
        self, message: str, *, status_code: int | None = None, conn_id: str | None = None, url: str | None = None
    ) -> None:
        self.http_status = status_code
        self.conn_id = conn_id
        self.url = url
        super().__init__(f"Connection {conn_id!r}, token URL {url}: {message}" if conn_id else message)
        self.message = message


class IdTokenError(TokenResponseError):
    """
    The ID Token of an OpenID Connect code exchange is not this request's (OIDC Core 3.1.3.7): its ``nonce``,
    audience, issuer or expiry does not match; no token from that answer is kept. ``.claim`` names the claim.
    """

    def __init__(self, claim: str, problem: str, *, conn_id: str | None = None, url: str | None = None) -> None:
        self.claim = claim
        message = (
            f"the ID Token's {claim!r} claim {problem}, so the authorization was not accepted and no token was kept "
            f"(OpenID Connect Core 3.1.3.7). Authorize again; if it repeats, check that the connection's client ID "
            f"and issuer are the provider's, and that nothing between Airflow and the provider alters its answers"
        )
        super().__init__(message, conn_id=conn_id, url=url)


class TokenEndpointError(OAuthConnectorError):
    """The token endpoint returned an OAuth 2.0 error response (RFC 6749 section 5.2)."""

    #: Error codes that no retry can fix.
    permanent: bool = False

    def __init__(
        self,
        error: str,
        description: str | None = None,
        *,
        status_code: int | None = None,
        conn_id: str | None = None,
        url: str | None = None,
    ) -> None:
        self.error = error
        self.description = description
        self.http_status = status_code
        self.conn_id = conn_id
        self.url = url
        where = f"Connection {conn_id!r}: token endpoint {url}" if conn_id else "Token endpoint"
        text = f"{where} returned error {error!r}"
        if status_code is not None:
            text += f" (HTTP {status_code})"
        if description:
            text += f": {description}"
        hint = self.hint()
        if hint:
            text += f". {hint}"
        super().__init__(text)

    def hint(self) -> str:
        return ""

    @staticmethod
    def create(error: str, description: str | None, status_code: int | None) -> TokenEndpointError:
        """Build the most specific subclass for ``error``."""
        cls = _ERROR_CLASSES.get(error, TokenEndpointError)
        return cls(error, description, status_code=status_code)


class InvalidClientError(TokenEndpointError):
    permanent = True

    def hint(self) -> str:
        return (
            "Check the client ID and client secret, and whether the provider expects them in the "
            "basic-auth header or the request body (the 'client_auth' field)"
        )


class InvalidGrantError(TokenEndpointError):
    permanent = True

    def hint(self) -> str:
        return "The authorization grant or refresh token is invalid, expired or revoked: authorize the connection again"


class GrantRefusedError(InvalidGrantError):
    """
    A refresh was answered with a 4xx whose body is empty or not an OAuth error (some servers answer a used
    or revoked refresh token so): the grant was refused, and the server gave no reason.
    """

    def __init__(self, status_code: int, *, conn_id: str | None = None, url: str | None = None) -> None:
        super().__init__("invalid_grant", None, status_code=status_code, conn_id=conn_id, url=url)
        where = f"Connection {conn_id!r}: token endpoint {url}" if conn_id else "Token endpoint"
        self.args = (
            f"{where} refused the refresh token (HTTP {status_code}) and gave no reason: the grant was "
            f"revoked, expired or already used. Authorize the connection again",
        )

    def __str__(self) -> str:
        return str(self.args[0])


class UnauthorizedClientError(TokenEndpointError):
    permanent = True

    def hint(self) -> str:
        return "The provider does not allow this client to use this grant type"


class InvalidScopeError(TokenEndpointError):
    permanent = True

    def hint(self) -> str:
        return "Check the 'scope' field against the scopes the provider grants this client"


_ERROR_CLASSES: dict[str, type[TokenEndpointError]] = {
    "invalid_client": InvalidClientError,
    "invalid_grant": InvalidGrantError,
    "unauthorized_client": UnauthorizedClientError,
    "invalid_scope": InvalidScopeError,
    "unsupported_grant_type": UnauthorizedClientError,
    "invalid_request": TokenEndpointError,
}


class AuthorizationRequiredError(OAuthConnectorError):
    """An authorization-code profile has no usable refresh token: a person must authorize it."""

    def __init__(self, conn_id: str, reason: str = "it has not been authorized yet") -> None:
        self.conn_id = conn_id
        super().__init__(
            f"Connection {conn_id!r} needs authorization: {reason}. Authorize it from the "
            f"'OAuth profiles' page in the Airflow UI, or store a refresh token in the connection's "
            f"'refresh_token' extra field"
        )


class ReauthorizationRequiredError(AuthorizationRequiredError):
    """The connection's grant was rejected before (``invalid_grant``): no token request is sent until renewed."""

    def __init__(self, conn_id: str, *, kind: str, at: float | None = None, where: str | None = None) -> None:
        import datetime

        when = (
            datetime.datetime.fromtimestamp(at, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            if at
            else "earlier"
        )
        self.kind = kind
        super().__init__(
            conn_id,
            f"its refresh token was rejected ({kind}) at {when}{f' in {where}' if where else ''}, so no token "
            f"request was sent (the same token would be rejected again)",
        )


REFRESH_TOKEN_EXPIRED = "refresh_token_expired"
"""The failure kind of a refresh not sent because the refresh token's stated lifetime has passed."""


class RefreshTokenExpiredError(ReauthorizationRequiredError):
    """
    The refresh token's lifetime, as the token response stated it (``refresh_token_expires_in``), has passed:
    no refresh is sent (the server would answer ``invalid_grant``) until a person authorizes the connection again.
    """

    def __init__(self, conn_id: str, *, expired_at: float | None) -> None:
        from airflow_oauth_connector.status import format_time

        when = f" at {format_time(expired_at)}" if expired_at else ""
        self.kind = REFRESH_TOKEN_EXPIRED
        self.expired_at = expired_at
        AuthorizationRequiredError.__init__(
            self,
            conn_id,
            f"its refresh token expired{when} (the lifetime the provider stated with it), so no refresh was "
            f"sent (the provider would reject it)",
        )


class CapturedValueMissingError(OAuthConnectorError):
    """A call needs a value captured at authorization (``{name}`` in the base URL or a header) that is not held."""

    def __init__(self, conn_id: str, name: str) -> None:
        self.conn_id = conn_id
        self.name = name
        super().__init__(
            f"Connection {conn_id!r} needs the value {name!r}, which is captured when the connection is "
            f"authorized, but its grant does not hold it (authorized before this setting or preset existed?): "
            f"authorize again (airflow-oauth-connector authorize {conn_id}, or the OAuth profiles page)"
        )


class CaptureError(OAuthConnectorError):
    """A value the connection needs could not be captured at authorization (callback, post-authorization call)."""


class ForeignOriginError(OAuthConnectorError):
    """A request would have sent the connection's token to a host other than the API's own."""

    def __init__(self, url_origin: str, api_origin: str) -> None:
        self.url_origin = url_origin
        self.api_origin = api_origin
        super().__init__(
            f"Refusing to send this connection's token to {url_origin}: it is only sent to the API's "
            f"base URL origin {api_origin}. Use a relative endpoint, or another connection for that host"
        )


class ApiResponseError(OAuthConnectorError):
    """An API call returned a non-success status (after retries and one token refresh)."""

    def __init__(self, method: str, url: str, status_code: int, reason: str, excerpt: str) -> None:
        self.method = method
        self.url = url
        self.http_status = status_code
        self.reason = reason
        self.excerpt = excerpt
        message = f"{method} {url} failed: HTTP {status_code} {reason}".rstrip()
        if excerpt:
            message += f" - {excerpt}"
        super().__init__(message)


UnreachableCause = Literal["refused", "dns", "timeout", "tls", "closed", "other"]


class EndpointUnreachableError(OAuthConnectorError):
    """
    A transport error (connect failure, timeout, reset) outlasted the retry policy.

    ``cause`` says what happened in plain words (``detail``, e.g. "the connection to auth.example.com:443 was
    refused") and chooses the hint: the URL and the network for a refused connection or a name that does not
    resolve, the retry limits only for timeouts and dropped connections. With ``conn_id`` (a token request)
    the message names the connection and its token URL, and ``field`` names the form field to check.
    """

    def __init__(
        self,
        method: str,
        url: str,
        reason: str,
        attempts: int,
        elapsed: float,
        *,
        never_sent: bool = False,
        cause: UnreachableCause = "other",
        detail: str | None = None,
        conn_id: str | None = None,
        field: str | None = None,
        what: str = "its token URL",
    ) -> None:
        self.never_sent = never_sent
        """True when the last attempt surely never reached the server (its connect failed)."""
        self.method = method
        self.url = url
        self.reason = reason
        """The transport error's type and (redacted) text, for debugging; the message says it in plain words."""
        self.attempts = attempts
        self.elapsed = elapsed
        self.cause: UnreachableCause = cause
        self.detail = detail
        self.conn_id = conn_id
        self.field = field
        self.what = what
        plural = "s" if attempts != 1 else ""
        happened = detail or reason
        hint = _unreachable_hint(cause, field)
        if conn_id:
            message = (
                f"Connection {conn_id!r} could not reach {what} {url}: {happened} "
                f"({attempts} attempt{plural} in {elapsed:.1f} s). {hint}"
            )
        else:
            message = f"{method} {url} failed after {attempts} attempt{plural} in {elapsed:.1f} s: {happened}. {hint}"
        super().__init__(message)


def _unreachable_hint(cause: str, field: str | None) -> str:
    url = f"the {field}" if field else "the URL"
    if cause in ("refused", "dns"):
        return f"Check {url} and that the server is reachable from the worker"
    if cause == "timeout" or cause == "closed":
        return (
            "The server did not answer in time or dropped the connection: check that it is up and reachable "
            "from the worker, or raise the connection's timeout or retry limits ('timeout', 'retry_max_attempts', "
            "'retry_max_seconds')"
        )
    if cause == "tls":
        return f"Check {url} (https and port) and the connection's TLS settings ('verify', CA bundle)"
    return f"Check {url} and that the server is reachable from the worker"


class DestinationError(OAuthConnectorError):
    """A load into a destination failed; nothing of this run is visible there (the message names it)."""


class DestinationUnavailableError(DestinationError):
    """The destination cannot be reached or written; raised before any API call is made."""

    def __init__(self, destination: str, problem: str) -> None:
        self.destination = destination
        super().__init__(
            f"Destination {destination} cannot be written: {problem}. Check the path or connection and its "
            f"permissions; no API call was made"
        )


class DestinationSchemaError(DestinationError):
    """A record does not fit the destination's columns (e.g. a field turned from number to text)."""

    def __init__(self, destination: str, field: str, problem: str) -> None:
        self.destination = destination
        self.field = field
        super().__init__(
            f"Destination {destination}, field {field!r}: {problem}. Nothing of this run was loaded; change the "
            f"column's type or map the field before loading"
        )


class IncrementalCursorError(OAuthConnectorError):
    """The incremental cursor of a record cannot be compared with the others (``cursor_path`` named)."""


class IncrementalMarkError(OAuthConnectorError, AirflowFailException):
    """
    The destination committed but the new incremental mark could not be stored: the message says how to store
    it by hand, since the next run otherwise starts from the previous mark and loads those records again. The
    task fails without a retry (an ``AirflowFailException``): a retry would load the committed records again.
    """

    def __init__(self, key: str, mark: Any, landed: str, records: int, reason: str) -> None:
        self.key = key
        self.mark = mark
        stored = json.dumps({"cursor": mark}, default=str)
        shown = stored if len(stored) <= 300 else stored[:297] + "..."
        super().__init__(
            f"{records} record(s) were committed to {landed}, but the incremental mark could not be stored in "
            f"Variable {key!r} ({reason}). Store it before the next run: airflow variables set {key} '{shown}' — "
            f"the task is not retried, since the next try or run starts from the previous mark and loads "
            f"these records again (an append destination would then hold them twice)"
        )


class ConfigError(OAuthConnectorError):
    """An ``[oauth_connector]`` option (or an Airflow option the provider follows) has an unusable value."""


# -- token stores -----------------------------------------------------------------------------------------


class TokenStoreError(OAuthConnectorError):
    """A token store could not be used (unreachable server, unusable configuration)."""


class TokenStoreNotConfiguredError(TokenStoreError):
    """Under a distributed executor, a connection a person authorized has no shared token store chosen."""

    def __init__(self, conn_id: str, executor: str) -> None:
        self.conn_id = conn_id
        self.executor = executor
        super().__init__(
            f"Connection {conn_id!r} needs a token store shared by all workers: the {executor} runs tasks on "
            f"several machines, and per-machine token files would each keep their own copy of a rotating "
            f"refresh token (a server with reuse detection then revokes the grant). Set "
            f"[oauth_connector] redis_url (env AIRFLOW__OAUTH_CONNECTOR__REDIS_URL) to use Redis, or choose a "
            f"store with [oauth_connector] token_store or the connection's store_backend field "
            f"('file' only if every task of this connection runs on one machine)"
        )


class TokenStoreLockTimeoutError(TokenStoreError):
    """Another process held a token's refresh lock for longer than the store waits."""

    def __init__(self, store: str, key: str, waited: float) -> None:
        self.store = store
        self.key = key
        self.waited = waited
        super().__init__(
            f"Timed out after {waited:.0f} s waiting for the {store} token store's lock on {key!r}: another "
            f"process is still refreshing this token (or is stuck doing so). Retry the task; if this persists, "
            f"check the token endpoint's latency and the processes using this connection"
        )


TokenStoreLockTimeout = TokenStoreLockTimeoutError
"""Old name of :class:`TokenStoreLockTimeoutError`."""


# -- operator, pagination, trigger ------------------------------------------------------------------------


class PaginationError(OAuthConnectorError):
    """A page could not be read as the pagination strategy expects."""


class ResponseCheckError(OAuthConnectorError):
    """``response_check`` returned a false value for a response."""


ResponseCheckFailed = ResponseCheckError
"""Old name of :class:`ResponseCheckError`."""


class DeferredCallFailed(OAuthConnectorError):
    """The call made by the trigger failed; the message is the original (secret-free) error."""

    def __init__(self, error_type: str, message: str) -> None:
        self.error_type = error_type
        super().__init__(f"{error_type}: {message}")


class AlreadySentError(OAuthConnectorError):
    """A non-idempotent request may have been sent by an earlier triggerer; it is not sent twice."""


# -- authorization (CLI and plugin) -----------------------------------------------------------------------


class AuthorizationStorageError(OAuthConnectorError):
    """An authorization could not be recorded with (or removed from) the connection."""


class AuthorizationError(OAuthConnectorError):
    """An authorization by a person did not complete (denied, a redirect without a code, a wrong ``state``)."""

    def __init__(self, message: str, *, error: str | None = None, reason: str | None = None) -> None:
        self.error = error
        """The OAuth error code the authorization server answered with (e.g. ``access_denied``), if any."""
        self.reason = reason or message
        """What went wrong, without the advice that follows it (for pages that add their own)."""
        super().__init__(message)


class CliError(OAuthConnectorError):
    """A failure the CLI reports in one line (no traceback), with the exit status to use."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class PluginSecurityError(OAuthConnectorError):
    """The plugin cannot protect its forms or state (e.g. ``[api] secret_key`` is not set)."""


StateProblem = Literal["missing", "unknown", "other_user", "used", "expired"]


class StateError(OAuthConnectorError):
    """The callback's ``state`` does not identify a pending authorization of this user."""

    def __init__(self, problem: StateProblem, *, ttl: float = 600.0) -> None:
        self.problem = problem
        super().__init__(_state_message(problem, ttl))


def _state_message(problem: StateProblem, ttl: float) -> str:
    messages: dict[str, str] = {
        "missing": "The provider sent no 'state' parameter back, so this answer cannot be matched to a request.",
        "unknown": (
            "This authorization answer does not belong to any pending request (the 'state' parameter is unknown "
            "or was altered, or the request expired and was cleaned up). Start again with the Authorize button."
        ),
        "other_user": "This authorization was started by another Airflow user; only they can complete it.",
        "used": "This authorization answer was already used. Start again with the Authorize button.",
        "expired": (
            f"This authorization request expired (a request is valid for {ttl / 60:.0f} minutes). "
            "Start again with the Authorize button."
        ),
    }
    return messages[problem]


# -- JWT client assertions, token exchange, DPoP (issue 13) ---------------------------------------------


class ClientAssertionError(ProfileError):
    """
    A JWT the connection points to (a client assertion or subject-token file) is missing, empty, expired or
    not a JWT; ``field`` names the extra that holds its path. The message never quotes the file's contents.
    """


class JwtMaterialError(OAuthConnectorError):
    """
    A signing key or a JWT file is unusable (not parseable, the wrong key type for the algorithm, a file that
    is missing, empty, expired or holds no JWT). Raised by ``jwt_material`` and re-raised by its callers as
    :class:`ProfileError` / :class:`ClientAssertionError` naming the connection field; the message never
    quotes key material or token contents.
    """


class KeyPassphraseError(JwtMaterialError):
    """
    An encrypted PEM private key cannot be opened: its passphrase is missing or does not decrypt it. Re-raised
    as a :class:`ProfileError` on the passphrase field (``jwt_key_passphrase``); never quotes the key or the
    passphrase.
    """


class DPoPError(OAuthConnectorError):
    """A DPoP exchange cannot succeed (e.g. the server keeps asking for a new nonce); retrying will not help."""
