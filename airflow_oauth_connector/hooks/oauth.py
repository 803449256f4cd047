"""OAuthConnectorHook: an authorized requests.Session for one OAuth 2.0 connection."""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import time
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypedDict, Unpack
from urllib.parse import urlsplit

import requests
from airflow.sdk import BaseHook

from airflow_oauth_connector.exceptions import (
    ApiResponseError,
    AuthorizationRequiredError,
    ForeignOriginError,
    OAuthConnectorError,
    ProfileError,
)
from airflow_oauth_connector.flow import (
    BUFFERED_EXTENSION,
    AsyncOAuthAuth,
    AsyncTokens,
    OAuthAuth,
    OAuthSession,
    RequestFlow,
    StaticHeaders,
    loop_manager,
    strip_foreign_token,
)
from airflow_oauth_connector.profile import (
    CONN_TYPE,
    OAuthProfile,
    check_resolved_base_url,
    origin_of,
    placeholders_in,
)
from airflow_oauth_connector.redaction import drop_query, redact, register_secret
from airflow_oauth_connector.retry import RetryPolicy, send_with_retry, send_with_retry_async
from airflow_oauth_connector.status import Where, as_token_status, recording_where
from airflow_oauth_connector.store import MemoryTokenStore, TokenStore
from airflow_oauth_connector.store.factory import store_for
from airflow_oauth_connector.token import Token, known_secrets
from airflow_oauth_connector.token_client import TokenClient
from airflow_oauth_connector.token_manager import TokenManager

if TYPE_CHECKING:
    import httpx

    from airflow_oauth_connector.validation import FieldProblem

_EXCERPT = 200
_BUFFERED = {BUFFERED_EXTENSION: True}  # arun's requests: the answer is read whole (no client.stream)
_URL_CACHE = 256

RetryOverride = RetryPolicy | Mapping[str, Any] | None


class CallOptions(TypedDict, total=False):
    """The keyword options of one call, :meth:`OAuthConnectorHook.run` and :meth:`~OAuthConnectorHook.arun` alike."""

    params: Mapping[str, Any] | None
    json: Any
    data: Any
    headers: Mapping[str, str] | None
    timeout: float | None
    """Seconds for this call (default: the hook's timeout)."""
    retry: RetryOverride
    """A :class:`RetryPolicy`, or a mapping of its fields, laid over the hook's policy for this call."""
    replayable: bool | None
    """Whether the request may be re-sent after an ambiguous failure (default: only idempotent methods)."""
    check_response: bool
    """Raise :class:`ApiResponseError` for a final non-2xx status (default ``True``)."""


class RunOptions(CallOptions, total=False):
    """:class:`CallOptions` and the per-request options of ``requests.Session.request`` that :meth:`run` passes on."""

    cookies: Any
    files: Any
    auth: Any
    allow_redirects: bool
    proxies: Mapping[str, str] | None
    hooks: Any
    stream: bool | None
    verify: bool | str | None
    cert: str | tuple[str, str] | None


#: The call options the flow itself handles (the rest of :class:`RunOptions` go to requests unchanged).
_FLOW_OPTIONS = frozenset({"headers", "timeout", "retry", "replayable", "check_response"})


class OAuthConnectorHook(BaseHook):
    """
    Calls an OAuth 2.0-protected REST API: tokens are fetched, cached, refreshed and attached for you.

    :param oauth_conn_id: an ``oauth_connector`` connection.
    :param timeout: seconds per HTTP request (overrides the connection's ``timeout``).
    :param retry: a :class:`RetryPolicy`, or a mapping of its fields, laid over the connection's policy.
    :param token_store: where tokens are kept; default: the connection's ``store_backend`` field, else the
        provider-wide ``[oauth_connector] token_store`` option, else the local file store.
    """

    conn_name_attr = "oauth_conn_id"
    default_conn_name = "oauth_connector_default"
    conn_type = CONN_TYPE
    hook_name = "OAuth 2.0 API"

    def __init__(
        self,
        oauth_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry: RetryOverride = None,
        token_store: TokenStore | None = None,
    ) -> None:
        super().__init__()
        self.oauth_conn_id = oauth_conn_id
        self._timeout = timeout
        self._retry_override = retry
        self._token_store = token_store
        self._other_twins: list[OAuthProfile] | None = None  # a test copy run as its first twin: the others

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Airflow 3.1's source of the form's extra fields (3.2+ read the provider info's ``conn-fields``)."""
        from airflow_oauth_connector.connection_form import form_widgets

        return form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Airflow 3.1's source of the standard fields' behaviour (3.2+: ``ui-field-behaviour``)."""
        from airflow_oauth_connector.connection_form import field_behaviour

        return field_behaviour()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(oauth_conn_id={self.oauth_conn_id!r})"

    @cached_property
    def profile(self) -> OAuthProfile:
        """The connection, parsed and validated (read once per hook)."""
        return OAuthProfile.from_connection(self.get_connection(self.oauth_conn_id))

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        return _merge_policy(self.profile.retry, self._retry_override)

    @cached_property
    def token_client(self) -> TokenClient:
        return TokenClient(self.profile, retry=self.retry_policy)

    @cached_property
    def tokens(self) -> TokenManager:
        return TokenManager(self.profile, self.token_client, store_for(self.profile, self._token_store))

    @cached_property
    def base_url(self) -> str:
        """
        The API base URL. ``{name}`` placeholders (Salesforce's ``{instance_url}``, QuickBooks' ``{realmId}``)
        are filled from the values captured with the grant, which costs a token lookup on first use.
        """
        profile = self.profile
        if not placeholders_in(profile.base_url):
            return profile.base_url
        return check_resolved_base_url(profile, profile.resolved_base_url(self.captured_values()))

    def captured_values(self) -> dict[str, str]:
        """Values captured at authorization and token time (``instance_url``, ``realmId``, ``tenant_id``, ...)."""
        primed = self.__dict__.get("_captured")  # read without blocking by arun, in an event loop
        if primed is not None:
            return dict(primed)
        return {**self.profile.captured, **self.tokens.get_token().captured}

    async def _aprime_captured(self) -> None:
        """Placeholders need the token's captured values: in an event loop, get the token without blocking it."""
        profile = self.profile
        if "_captured" in self.__dict__ or not placeholders_in(profile.base_url, *profile.api_headers.values()):
            return
        token = await self._async_tokens.get_token()
        self.__dict__["_captured"] = {**profile.captured, **token.captured}

    @cached_property
    def flow(self) -> RequestFlow:
        """The auth step of this connection's API requests, shared by :attr:`session` and :meth:`arun`."""
        profile = self.profile
        flow = RequestFlow.for_profile(profile)
        flow.rebind(origin_of(self.base_url))
        if profile.api_headers:  # fixed headers (Notion-Version; Xero-Tenant-Id from a captured value)
            captured = self.captured_values() if placeholders_in(*profile.api_headers.values()) else {}
            flow.header_sources = (*flow.header_sources, StaticHeaders(profile.resolved_headers(captured)))
        return flow

    @cached_property
    def session(self) -> OAuthSession:
        session = OAuthSession(self.base_url, OAuthAuth(self.tokens, self.flow))
        session.verify = self.profile.verify
        session.cert = self.profile.cert
        return session

    async def aload_profile(self) -> OAuthProfile:
        """
        :attr:`profile` without blocking an event loop (the triggerer's); later reads use it.

        The connection comes from Airflow's async getter; it is parsed by the same
        :meth:`OAuthProfile.from_connection` as :attr:`profile`, in a worker thread: parsing the extra
        registers its secrets with Airflow's masker through the synchronous call, which must not run on the
        loop (Airflow 3.3 refuses it there; 3.1 and 3.2 have no async one). The profile is kept by this hook
        alone, like :attr:`profile` (a trigger's hook lives for one call; a parse costs ~0.1 ms).
        """
        if "profile" not in self.__dict__:
            conn = await self.aget_connection(self.oauth_conn_id)
            parsed = await asyncio.to_thread(OAuthProfile.from_connection, conn)
            self.__dict__.setdefault("profile", parsed)  # unless read meanwhile by a sync caller
        return self.profile

    @cached_property
    def async_auth(self) -> AsyncOAuthAuth:
        """The flow's httpx adapter; in an event loop, the connection's tokens are shared by all its hooks."""

        return AsyncOAuthAuth(self._async_tokens, self.flow)

    @cached_property
    def _async_tokens(self) -> _AsyncTokensOnFirstUse:
        return _AsyncTokensOnFirstUse(self)

    def async_client(self) -> httpx.AsyncClient:
        """
        A new ``httpx.AsyncClient`` (close it when done) that authorizes every request to the API's origin,
        like :attr:`session`: the same flow, token store and TLS settings; redirects followed, the token never
        leaving the origin; proxies from the environment as ``requests`` reads them. In an event loop, read
        the profile first (:meth:`aload_profile`). Cheap to make: TLS settings and proxies are read once.
        """
        import httpx

        context = _ssl_context(self.profile.verify, self.profile.cert)
        return httpx.AsyncClient(
            auth=self.async_auth,
            transport=httpx.AsyncHTTPTransport(verify=context),
            mounts=_proxy_mounts(context),
            trust_env=False,  # read once by _proxy_mounts (scanning the environment costs per client)
            timeout=self.timeout,
            follow_redirects=True,
            event_hooks={"request": [strip_foreign_token]},
        )

    def get_conn(self) -> OAuthSession:
        """A ``requests.Session`` that authorizes every request to the API's origin."""
        return self.session

    @property
    def timeout(self) -> float:
        return self._timeout if self._timeout is not None else self.profile.timeout

    def url_for(self, endpoint: str | None) -> str:
        """The base URL joined with ``endpoint``; an absolute URL must stay on the API's origin."""
        cache = self._urls
        url = cache.get(endpoint)
        if url is None:
            url = self._join(endpoint)
            if len(cache) < _URL_CACHE:
                cache[endpoint] = url
        return url

    @cached_property
    def _urls(self) -> dict[str | None, str]:
        return {}

    def _join(self, endpoint: str | None) -> str:
        base = self.base_url
        if not endpoint:
            return base
        if urlsplit(endpoint).scheme:
            if origin_of(endpoint) != origin_of(base):
                raise ForeignOriginError(origin_of(endpoint), origin_of(base))
            return endpoint
        return f"{base}/{endpoint.lstrip('/')}"

    def run(self, endpoint: str | None = None, method: str = "GET", **options: Unpack[RunOptions]) -> requests.Response:
        """
        Call ``endpoint`` (relative to the base URL) with the token attached; retried by the policy.

        ``options``: :class:`CallOptions` and requests' own per-request options (:class:`RunOptions`). A 401
        (or an answer the connection's ``renew_on`` declares) renews the token and replays once. With
        ``check_response`` a final non-2xx status raises :class:`ApiResponseError`. ``replayable`` overrides
        whether the request may be re-sent after a failure that it may have survived on the server (default:
        only idempotent methods).
        """
        url, verb, policy = self._target(endpoint, method, options.get("retry"))
        request = self.session.request
        arguments: dict[str, Any] = {k: v for k, v in options.items() if k not in _FLOW_OPTIONS}
        headers = options.get("headers")
        arguments["headers"] = dict(headers) if headers else None  # None: requests skips merging the session's
        timeout = options.get("timeout")
        arguments["timeout"] = self.timeout if timeout is None else timeout
        response = send_with_retry(
            lambda: request(verb, url, **arguments),
            policy,
            method=verb,
            url=url,
            replayable=options.get("replayable"),
        )
        if options.get("check_response", True) and 400 <= response.status_code < 600:  # Response.ok, no raise
            self.check_response(response)
        return response

    async def arun(
        self,
        endpoint: str | None = None,
        method: str = "GET",
        *,
        client: httpx.AsyncClient | None = None,
        **options: Unpack[CallOptions],
    ) -> httpx.Response:
        """
        :meth:`run` in an event loop: the same URL rules, retry policy, token handling (renew and replay once
        after a 401 or a ``renew_on`` signal) and response check. ``client``: one of your own (e.g. from
        :meth:`async_client`); default: a client shared in the running loop by every hook with the same TLS
        settings (keep-alive connections, no per-call set-up). ``options``: :class:`CallOptions`.
        """
        unknown = options.keys() - CallOptions.__optional_keys__
        if unknown:
            raise TypeError(f"arun() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
        await self._aprime_captured()  # before the URL and the flow (and a client): they may need captured values
        if client is not None:
            return await self._asend(client, endpoint, method, options)
        async with self.async_client() as own:  # a client per call: a pool shared by hundreds costs more (httpcore)
            return await self._asend(own, endpoint, method, options)

    async def _asend(
        self, client: httpx.AsyncClient, endpoint: str | None, method: str, options: CallOptions
    ) -> httpx.Response:
        url, verb, policy = self._target(endpoint, method, options.get("retry"))
        auth = self.async_auth
        body, extra_headers = _httpx_body(options.get("json"), options.get("data"), options.get("headers"))
        query = _requests_style_query(options.get("params"))
        timeout = options.get("timeout")
        seconds = self.timeout if timeout is None else timeout
        response = await send_with_retry_async(
            lambda: client.request(
                verb,
                url,
                params=query,
                headers=extra_headers,
                timeout=seconds,
                auth=auth,
                extensions=_BUFFERED,  # not streamed: a renew signal may read a chunked body
                **body,
            ),
            policy,
            method=verb,
            url=url,
            replayable=options.get("replayable"),
        )
        if options.get("check_response", True) and 400 <= response.status_code < 600:
            raise await asyncio.to_thread(self._response_error, response)  # reads the token store: not on the loop
        return response

    def _target(self, endpoint: str | None, method: str, retry: RetryOverride) -> tuple[str, str, RetryPolicy]:
        """The URL, the upper-case method and the retry policy of one call (the hook's, or overridden)."""
        policy = self.retry_policy if retry is None else _merge_policy(self.retry_policy, retry)
        return self.url_for(endpoint), method.upper(), policy

    def check_response(self, response: requests.Response) -> None:
        """Raise :class:`ApiResponseError` (with a short body excerpt, secrets removed) for a non-2xx."""
        if response.ok:
            return
        raise self._response_error(response)

    def _response_error(self, response: requests.Response | httpx.Response) -> ApiResponseError:
        """
        The :class:`ApiResponseError` of a final non-2xx answer, of :meth:`run` (requests) and :meth:`arun`
        (httpx) alike: method, URL without its query, status, reason and a short excerpt without secrets.
        Reads the token store (for the secrets to remove): in an event loop, call it in a worker thread.
        """
        if isinstance(response, requests.Response):
            reason, url = response.reason, response.url
        else:
            reason, url = response.reason_phrase, str(response.url)
        return ApiResponseError(
            response.request.method or "?",
            drop_query(url or ""),
            response.status_code,
            reason or "",
            self.excerpt(response),
        )

    def excerpt(self, response: requests.Response | httpx.Response) -> str:
        """A short, whitespace-folded body excerpt with this connection's secrets removed."""
        try:
            text = response.content[: _EXCERPT * 4].decode("utf-8", errors="replace")
        except Exception:  # the body could not be read (a broken stream)
            return ""
        return redact(text, secrets=known_secrets(self.profile, self.tokens.current()), limit=_EXCERPT, queries=False)

    def get_access_token(self) -> str:
        """A valid access token (registered with Airflow's secrets masker), for clients of your own."""
        token = self.tokens.get_token().access_token
        register_secret(token)
        return token

    def settings_problems(self) -> list[FieldProblem]:
        """The connection's settings problems (:func:`~airflow_oauth_connector.validation.connection_problems`)."""
        from airflow_oauth_connector.validation import connection_problems

        return connection_problems(self.get_connection(self.oauth_conn_id))

    def test_connection(self) -> tuple[bool, str]:
        """
        Check the settings, then fetch a fresh token and say what worked, without any secret in the message.

        The connection is read and parsed once. Settings with problems (named by the form's labels) fail the
        test without a token request. The outcome is recorded as happening in ``"test"`` (the Connections
        page's Test, the OAuth profiles page's Test): refused settings as an ``invalid_settings`` failure of
        the connection, the token request's failure or success in the profile's status (a success clears a
        failure); the status views show the last one. The Connections page tests a copy under a random id:
        its outcome is recorded on the stored connection(s) with the same settings, nothing under that id.
        """
        try:
            conn = self.get_connection(self.oauth_conn_id)
        except Exception as exc:
            return False, f"Could not read the connection: {type(exc).__name__}"
        copy = self._keep_test_copy_private()
        problems = self._take_profile(conn)
        if problems:
            listed = "; ".join(str(problem) for problem in problems)
            return False, f"Invalid settings, no token requested: {listed}"
        if copy:
            refused = self._test_as_stored_twin()
            if refused:
                return False, refused
        try:
            profile = self.profile  # parsed by _take_profile: nothing is read again
            started = time.monotonic()
            with recording_where(Where.TEST):
                token = self.tokens.renew()
        except AuthorizationRequiredError as exc:
            return False, str(exc)
        except OAuthConnectorError as exc:
            self._share_test_outcome()
            return False, f"Could not obtain a token: {exc}"
        except Exception as exc:
            self._share_test_outcome()
            return False, f"Could not obtain a token: {type(exc).__name__}"
        elapsed = time.monotonic() - started  # the token request alone, before the outcome is shared
        lifetime = token.expires_in(time.time())
        expiry = "no stated expiry" if lifetime is None else f"expires in {lifetime:.0f} s"
        scope = f", scope '{token.scope}'" if token.scope else ""
        message = (
            f"Token endpoint {drop_query(self.token_client.endpoints.token_url)} issued a "
            f"{token.token_type} token for client '{profile.client_id}' via {profile.grant_type.value} "
            f"in {elapsed:.2f} s ({expiry}{scope})"
        )
        self._share_test_outcome()
        return True, message

    def _keep_test_copy_private(self) -> bool:
        """
        Whether this is the copy Airflow's Connections page tests under a random id
        (:func:`~airflow_oauth_connector.authorization.repository.is_test_copy`); such a copy keeps what it
        records in a store of this hook alone: nothing is left under that id in the shared store (a token, a
        status record, a lock file with every Test pressed). A store given to the hook is the caller's and stays.
        """
        from airflow_oauth_connector.authorization.repository import is_test_copy

        if self._token_store is None and is_test_copy(self.oauth_conn_id):
            self._token_store = MemoryTokenStore()
            return True
        return False

    def _test_as_stored_twin(self) -> str | None:
        """
        Run the copy's test as the stored connection it copies (the first of its
        :func:`~airflow_oauth_connector.authorization.repository.stored_twins`): with that connection's token
        store and key, so a refresh uses the newest refresh token the store holds (tasks may have rotated the
        one in the connection's extra away) and the rotated one is saved where tasks read it; the outcome is
        recorded on it as a test. Unsaved settings that would send a refresh token are refused instead
        (returned as the test's message): the rotated refresh token would be kept nowhere, and the saved
        connection's one may then be dead.
        """
        from airflow_oauth_connector.authorization.repository import stored_twins

        twins = stored_twins(self.profile)
        if twins:
            self._other_twins = twins[1:]  # the first records the outcome itself, as the connection tested
            self.__dict__["profile"] = twins[0]
            self._token_store = None
            for name in ("retry_policy", "token_client", "tokens"):
                self.__dict__.pop(name, None)
            return None
        if self.profile.refresh_token and self.profile.grant_type.needs_person:
            return (
                "Not tested: these settings differ from the saved connection's, and testing them would send its "
                "refresh token (a refresh may rotate it, and the new one would be kept nowhere). Save the "
                "connection, then press Test (or use Test on Admin > OAuth profiles)"
            )
        return None

    def _take_profile(self, conn: Any) -> list[FieldProblem]:
        """
        Parse the tested connection once: its profile becomes the hook's (``self.profile``), and the
        connection's record of refused settings goes; or its settings problems, the refusal recorded.
        """
        from airflow_oauth_connector.authorization.commands import record_settings_test
        from airflow_oauth_connector.validation import FieldProblem, connection_problems

        refusal: ProfileError | None = None
        if (conn.conn_type or CONN_TYPE) == CONN_TYPE:
            try:
                parsed = OAuthProfile.from_connection(conn)
            except ProfileError as exc:
                refusal = exc
            else:
                self.__dict__.setdefault("profile", parsed)  # the cached_property's value, unless already read
                record_settings_test(self.oauth_conn_id, None, store=self._token_store)
                return []
        problems = connection_problems(conn)
        if refusal is not None:
            record_settings_test(self.oauth_conn_id, refusal, store=self._token_store, secrets=(conn.password,))
            problems = problems or [FieldProblem.of(refusal)]
        return problems

    def _share_test_outcome(self) -> None:
        """
        On Airflow's Connections page the test runs on a copy under a random id, exported as an environment
        variable: record its outcome on the stored connection(s) it is a copy of too
        (:func:`~airflow_oauth_connector.authorization.commands.share_test_outcome`; a copy run as its first
        twin records on the others found then). Never fails the test.
        """
        if f"AIRFLOW_CONN_{self.oauth_conn_id.upper()}" not in os.environ:
            return
        try:
            from airflow_oauth_connector.authorization.commands import record_test_outcome, share_test_outcome

            tokens = self.tokens
            outcome = as_token_status(tokens.store.load_status(tokens.key))
            if self._other_twins is None:
                share_test_outcome(self.profile, outcome)
            else:
                record_test_outcome(self._other_twins, outcome)
        except Exception as exc:
            self.log.warning(
                "Connection test: could not record the outcome on the stored connection (%s)", type(exc).__name__
            )


def _merge_policy(base: RetryPolicy, override: RetryOverride) -> RetryPolicy:
    if override is None:
        return base
    if isinstance(override, RetryPolicy):
        return override
    return base.replace(**dict(override))


class _AsyncTokensOnFirstUse:
    """:class:`AsyncTokens` of the loop's shared manager for the hook's profile, found when a token is needed."""

    def __init__(self, hook: OAuthConnectorHook) -> None:
        self._hook = hook
        self._tokens: AsyncTokens | None = None

    def _get(self) -> AsyncTokens:
        if self._tokens is None:
            hook = self._hook
            shared = hook._token_store is None  # an explicit store is the caller's: not shared
            manager = loop_manager(hook.profile, lambda: hook.tokens) if shared else hook.tokens
            self._tokens = AsyncTokens(manager)
        return self._tokens

    async def get_token(self) -> Token:
        return await self._get().get_token()

    async def refresh_after_rejection(self, rejected: Token) -> Token:
        return await self._get().refresh_after_rejection(rejected)


@functools.cache
def _environment_proxies() -> tuple[tuple[str, str | None], ...]:
    """The proxy settings of the environment (``HTTPS_PROXY``, ``NO_PROXY``, ...), read once per process."""
    from httpx._utils import get_environment_proxies

    return tuple(get_environment_proxies().items())


def _proxy_mounts(context: ssl.SSLContext | bool) -> dict[str, httpx.AsyncBaseTransport | None]:
    import httpx

    return {
        pattern: httpx.AsyncHTTPTransport(verify=context, proxy=url) if url else None
        for pattern, url in _environment_proxies()
    }


def _httpx_body(
    json: Any, data: Any, headers: Mapping[str, str] | None
) -> tuple[dict[str, Any], dict[str, str] | None]:
    """httpx arguments for the body ``requests`` would send: ``data`` wins over ``json``; a mapping or a
    list of pairs is a form, ``str``/``bytes`` the raw body."""
    extra = dict(headers) if headers else None
    if data is None:
        return ({"json": json} if json is not None else {}), extra
    if isinstance(data, Mapping):
        return {"data": dict(data)}, extra
    if isinstance(data, (list, tuple)):
        from urllib.parse import urlencode

        extra = {"Content-Type": "application/x-www-form-urlencoded", **(extra or {})}
        return {"content": urlencode(list(data), doseq=True)}, extra
    return {"content": data}, extra


def _requests_style_query(params: Mapping[str, Any] | None) -> list[tuple[str, str | int | float | bool | None]] | None:
    """Query parameters encoded as ``requests`` encodes them (``None`` dropped, ``str()`` of each value, lists
    repeated), so a page requested by the trigger has the same URL as one requested by the hook."""
    if not params:
        return None
    pairs: list[tuple[str, str | int | float | bool | None]] = []
    for name, value in params.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None:
                pairs.append((str(name), item.decode() if isinstance(item, bytes) else str(item)))
    return pairs


_ssl_contexts: dict[tuple[bool | str, str | tuple[str, str] | None, str | None], ssl.SSLContext | bool] = {}


def _ssl_context(verify: bool | str, cert: str | tuple[str, str] | None) -> ssl.SSLContext | bool:
    """
    TLS settings for httpx that match what ``requests`` does for the hook: ``verify`` as given (a CA bundle
    path, or ``True``: ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` if set, else certifi's bundle), plus the
    client certificate. Built once per setting (loading a CA bundle costs milliseconds).
    """
    import os

    bundle = None
    if verify is True:
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
    key = (verify, cert, bundle)
    context = _ssl_contexts.get(key)
    if context is None:
        if verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            import certifi

            cafile = verify if isinstance(verify, str) else bundle or certifi.where()
            if os.path.isdir(cafile):
                context = ssl.create_default_context(capath=cafile)
            else:
                context = ssl.create_default_context(cafile=cafile)
        if cert is not None:
            certfile, keyfile = (cert, None) if isinstance(cert, str) else cert
            context.load_cert_chain(certfile, keyfile)
        _ssl_contexts[key] = context
    return context
