"""
The request flow: put the token on same-origin API requests, and replay once after a 401 (sync and async).

The auth step is written once, as a generator in the style of httpx's ``Auth.auth_flow``
(:meth:`RequestFlow.steps`); two thin adapters drive it:

* :class:`OAuthAuth`, a ``requests`` ``AuthBase`` (with :class:`OAuthSession`, which strips the token from
  cross-origin redirects), used by :class:`~airflow_oauth_connector.hooks.oauth.OAuthConnectorHook`;
* :class:`AsyncOAuthAuth`, an ``httpx.Auth`` for the ``httpx.AsyncClient`` the deferrable trigger uses
  (:meth:`~airflow_oauth_connector.hooks.oauth.OAuthConnectorHook.arun`).

The generator does no I/O: it yields either the request to send next (and receives its response) or a
:class:`TokenNeeded` (and receives a :class:`~airflow_oauth_connector.token.Token`). The adapters answer
token needs from a :class:`TokenSource` (the hook's ``TokenManager``: store, single flight, leeway) or, in
an event loop, from :class:`AsyncTokens` (no I/O while the token is valid; a fetch runs in a worker thread,
one per token key at a time in the loop). Transport details (URL type, header objects, whether a body can be
sent again) sit behind a small :class:`Wire` per HTTP library, so the rules below hold for both:

1. Only a request bound for the API's origin (scheme, host and port of the base URL) gets anything.
2. The token is presented as the profile says (:class:`Presentation`: header name and scheme, no scheme,
   or a query parameter), then every :class:`HeaderSource` adds its headers.
3. An answer whose status is in :attr:`RequestFlow.replay_statuses` is offered to the :class:`ReplayRule`
   list in order, then to the :class:`BodyRule` list; the first that claims it decides: :attr:`Replay.NEW_TOKEN`
   (renew the rejected token) or :attr:`Replay.SAME_TOKEN` (re-attach, the rule having noted what it needed).
   Each rule fires at most once per request, the token is renewed at most once per request whichever rule
   asks, and only for a same-origin request whose body can be sent again; the replay is the request that got
   the answer, re-attached (fresh headers from every source). Default: :class:`RefreshOn401`; a connection's
   ``renew_on`` adds a :class:`RenewOnSignal` (statuses and/or a JSON body condition: Slack's HTTP 200
   ``token_expired``, the SP-API's 403 ``Unauthorized``).
4. A :class:`BodyRule` sees the answer's JSON body only when the adapter may read it (:class:`BodyNeeded`):
   a JSON type and at most :data:`MAX_INSPECTED_BODY` bytes; ``requests`` never reads a body the caller streams
   (``stream=True``), and httpx, which cannot tell, reads only a body whose bounded length is declared unless
   the request says its caller buffers the answer anyway (:data:`BUFFERED_EXTENSION`, set by ``hook.arun``:
   then a chunked body is read too). A body that is not read never matches a body condition.

Extension points (for features that plug in later without restructuring):

* **Per-request headers computed from the request** (RFC 9449 DPoP: a fresh proof over method, URL and
  token on every request): a :class:`HeaderSource` in ``header_sources``; ``Presentation(scheme="DPoP")``
  gives ``Authorization: DPoP <token>``. Sources run after the token is placed and again on each replay.
* **A second kind of one-time retry** (DPoP ``use_dpop_nonce``: a 401/400 carrying ``DPoP-Nonce``): a
  :class:`ReplayRule` placed before :class:`RefreshOn401` in ``rules`` that records the nonce (e.g. in the
  DPoP header source) and answers :attr:`Replay.SAME_TOKEN`; it declares the statuses it reads.
* **Fixed headers on every API call** (``Notion-Version``) and **``{name}`` placeholders** filled from values
  captured at authorization and stored with the token: :class:`StaticHeaders` (the hook fills the
  placeholders from the captured values, then adds the source). A base URL with placeholders is resolved by
  the hook (it owns URLs), which binds the flow to that origin (:meth:`RequestFlow.rebind`).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import json
import logging
import os
import weakref
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import requests
from requests.auth import AuthBase

from airflow_oauth_connector.dpop import DPoPKey, NonceMemory, api_nonce_challenge, nonce_loop_error
from airflow_oauth_connector.exceptions import DPoPError
from airflow_oauth_connector.profile import origin_of
from airflow_oauth_connector.token import Token, lookup

if TYPE_CHECKING:
    from airflow_oauth_connector.profile import OAuthProfile, RenewSignal
    from airflow_oauth_connector.token_manager import TokenManager

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Resp_contra = TypeVar("Resp_contra", contravariant=True)


# -- what the flow asks of its driver ----------------------------------------------------------------------


@dataclass(frozen=True)
class TokenNeeded:
    """Yielded by the flow: send back a valid token (``rejected``: renew that one, the API refused it)."""

    rejected: Token | None = None


_FIRST_TOKEN = TokenNeeded()


@dataclass(frozen=True)
class BodyNeeded:
    """Yielded by the flow: send back the JSON of the last answer's body, or ``None`` when it may not be read
    (not JSON, larger than :data:`MAX_INSPECTED_BODY`, or a body the caller streams: :func:`inspectable`)."""


_BODY_NEEDED = BodyNeeded()


class TokenSource(Protocol):
    """Where the sync adapters take tokens from (the hook's ``TokenManager``)."""

    def get_token(self) -> Token: ...

    def refresh_after_rejection(self, rejected: Token) -> Token: ...


class AsyncTokenSource(Protocol):
    """Where the async adapter takes tokens from (:class:`AsyncTokens`)."""

    async def get_token(self) -> Token: ...

    async def refresh_after_rejection(self, rejected: Token) -> Token: ...


# -- extension points ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Presentation:
    """How the token rides on a request: ``<header_name>: <scheme> <token>`` (no scheme: the bare token),
    or, with ``query_param``, as that URL query parameter."""

    header_name: str = "Authorization"
    scheme: str = "Bearer"
    query_param: str | None = None

    def header_value(self, token: Token) -> str:
        return f"{self.scheme} {token.access_token}" if self.scheme else token.access_token


class HeaderSource(Protocol):
    """Headers one API request carries beside the token, computed from its method, URL and token."""

    def __call__(self, method: str, url: str, token: Token) -> Mapping[str, str]: ...


class StaticHeaders:
    """A :class:`HeaderSource` of fixed headers (an API version header; a tenant ID captured at authorization)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = dict(headers)

    def __call__(self, method: str, url: str, token: Token) -> Mapping[str, str]:
        return self.headers

    def __repr__(self) -> str:
        return f"StaticHeaders({sorted(self.headers)!r})"  # names only: a captured value may be sensitive


class Replay(enum.Enum):
    """What a :class:`ReplayRule` asks for: the request once more, with the same or a renewed token."""

    SAME_TOKEN = "same_token"
    NEW_TOKEN = "new_token"


class ReplayRule(Protocol):
    """Claims an answer that deserves exactly one more attempt of the request (at most once per request)."""

    #: Statuses the rule looks at; answers with other statuses never reach it.
    statuses: frozenset[int]

    def __call__(self, status: int, headers: Mapping[str, str]) -> Replay | None: ...


class RefreshOn401:
    """A 401 from the API: the token was rejected (revoked, rotated away); renew it and send once more."""

    statuses = frozenset({401})

    def __call__(self, status: int, headers: Mapping[str, str]) -> Replay | None:
        return Replay.NEW_TOKEN if status == 401 else None

    def __repr__(self) -> str:
        return "RefreshOn401()"


DEFAULT_RULES: tuple[ReplayRule, ...] = (RefreshOn401(),)


class BodyRule(Protocol):
    """A :class:`ReplayRule` that may read the answer's JSON body (asked of the adapter only when ``needs_body``)."""

    statuses: frozenset[int]
    needs_body: bool

    def __call__(self, status: int, headers: Mapping[str, str], body: Any) -> Replay | None: ...


#: Every status a renew signal without statuses (a body condition alone) looks at (no 1xx, no redirect).
ANY_STATUS = frozenset((*range(200, 300), *range(400, 600)))


class RenewOnSignal:
    """
    :class:`BodyRule` of the connection's ``renew_on``: an answer besides a 401 that means the token expired
    (Slack's HTTP 200 ``{"ok": false, "error": "token_expired"}``, the SP-API's 403 ``Unauthorized``); renew the
    token and send once more. A body condition is checked only on a JSON body the adapter could read.
    """

    def __init__(self, signal: RenewSignal) -> None:
        self.signal = signal
        self.statuses = signal.statuses if signal.statuses is not None else ANY_STATUS
        self.needs_body = signal.path is not None

    def __repr__(self) -> str:
        return f"RenewOnSignal({self.signal!r})"

    def __call__(self, status: int, headers: Mapping[str, str], body: Any) -> Replay | None:
        if status not in self.statuses:
            return None
        if self.signal.path is not None:
            found = lookup(body, self.signal.path) if isinstance(body, (Mapping, list)) else None
            if found is None or isinstance(found, (Mapping, list)):
                return None
            if (json.dumps(found) if isinstance(found, bool) else str(found)) not in self.signal.values:
                return None
        return Replay.NEW_TOKEN


def _head(url: str) -> str:
    """``url``'s ``scheme://netloc`` as written (the whole URL when it has no path): a cheap per-origin cache key."""
    start = url.find("//")
    end = url.find("/", start + 2) if start >= 0 else -1
    return url if end < 0 else url[:end]


# -- reading an answer's body for a BodyRule --------------------------------------------------------------------

MAX_INSPECTED_BODY = 64 * 1024
"""The largest body (declared and decoded) a :class:`BodyRule` gets to see; a larger one counts as unread."""


def inspectable(headers: Mapping[str, str], *, length_required: bool) -> bool:
    """
    Whether an answer's body may be read for a :class:`BodyRule`: its type is JSON (``application/json``,
    ``…+json``) and its declared length at most :data:`MAX_INSPECTED_BODY` (``length_required``: declared).
    """
    media = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        return False
    declared = headers.get("Content-Length")
    if declared is None:
        return not length_required
    return declared.strip().isdigit() and int(declared) <= MAX_INSPECTED_BODY


def parse_body(content: bytes) -> Any:
    """The JSON value of a read body; ``None`` when it is larger than :data:`MAX_INSPECTED_BODY` or not JSON."""
    if len(content) > MAX_INSPECTED_BODY:
        return None
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None


# -- DPoP (RFC 9449) on API requests -------------------------------------------------------------------------


class DPoPProofs:
    """:class:`HeaderSource`: a fresh DPoP proof (``htm``, ``htu``, ``iat``, ``jti``, ``ath``, the API's latest
    nonce) signed with the key stored with the token, so every process sharing the token signs alike."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.nonces = NonceMemory()
        self._last: tuple[Mapping[str, Any], DPoPKey] | None = None  # parsed key of the last token seen

    def __repr__(self) -> str:
        return f"DPoPProofs(origin={self.origin!r})"

    def __call__(self, method: str, url: str, token: Token) -> Mapping[str, str]:
        if not token.dpop_jwk or not token.is_dpop:
            raise DPoPError(
                "This connection uses DPoP (field 'dpop') but its token is not DPoP-bound (no key stored with "
                "it); renew the token (e.g. `airflow-oauth-connector forget`), or turn 'dpop' off"
            )
        last = self._last
        if last is None or last[0] is not token.dpop_jwk:
            last = self._last = (token.dpop_jwk, DPoPKey.from_jwk(token.dpop_jwk))
        return {"DPoP": last[1].proof(method, url, access_token=token.access_token, nonce=self.nonces.get(url))}


class DPoPNonceReplay:
    """:class:`ReplayRule`: the API's ``use_dpop_nonce`` challenge (RFC 9449 9): keep its nonce, send once more
    with the same token (a nonce never costs a token)."""

    statuses = frozenset({401})

    def __init__(self, proofs: DPoPProofs) -> None:
        self.proofs = proofs

    def __repr__(self) -> str:
        return "DPoPNonceReplay()"

    def __call__(self, status: int, headers: Mapping[str, str]) -> Replay | None:
        if not api_nonce_challenge(status, headers):
            return None
        self.proofs.nonces.remember(self.proofs.origin, headers)
        return Replay.SAME_TOKEN


class DPoPNonceLoop:
    """:class:`ReplayRule` after :class:`DPoPNonceReplay`: a second nonce challenge for the same request is a
    loop; fail at once rather than renew the token for it."""

    statuses = frozenset({401})

    def __repr__(self) -> str:
        return "DPoPNonceLoop()"

    def __call__(self, status: int, headers: Mapping[str, str]) -> Replay | None:
        if api_nonce_challenge(status, headers):
            raise nonce_loop_error("API")
        return None


# -- transport details ---------------------------------------------------------------------------------------


class Wire(Protocol[Req, Resp_contra]):
    """What the flow needs to read and change on one HTTP library's request and response objects."""

    def url(self, request: Req) -> str: ...

    def method(self, request: Req) -> str: ...

    def set_header(self, request: Req, name: str, value: str) -> None: ...

    def set_query(self, request: Req, name: str, value: str) -> None: ...

    def replayable(self, request: Req) -> bool: ...

    def status(self, response: Resp_contra) -> int: ...

    def headers(self, response: Resp_contra) -> Mapping[str, str]: ...

    def replay_of(self, response: Resp_contra) -> Req:
        """A request like the one ``response`` answers, ready to be attached and sent again."""
        ...


def replace_query_param(url: str, name: str, value: str | None) -> str:
    """``url`` with query parameter ``name`` removed, then set to ``value`` unless that is ``None``."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    if value is not None:
        query.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


class RequestsWire:
    """:class:`Wire` for ``requests`` (``PreparedRequest`` / ``Response``)."""

    def url(self, request: requests.PreparedRequest) -> str:
        return request.url or ""

    def method(self, request: requests.PreparedRequest) -> str:
        return request.method or "GET"

    def set_header(self, request: requests.PreparedRequest, name: str, value: str) -> None:
        request.headers[name] = value

    def set_query(self, request: requests.PreparedRequest, name: str, value: str) -> None:
        request.url = replace_query_param(request.url or "", name, value)

    def replayable(self, request: requests.PreparedRequest) -> bool:
        return request.body is None or isinstance(request.body, (bytes, str))

    def status(self, response: requests.Response) -> int:
        return response.status_code

    def headers(self, response: requests.Response) -> Mapping[str, str]:
        return response.headers

    def replay_of(self, response: requests.Response) -> requests.PreparedRequest:
        response.content  # noqa: B018 - read the body so the connection can be reused
        response.close()
        return response.request.copy()


class HttpxWire:
    """:class:`Wire` for ``httpx`` (``Request`` / ``Response``); httpx reads a replayed answer itself."""

    def url(self, request: httpx.Request) -> str:
        return str(request.url)

    def method(self, request: httpx.Request) -> str:
        return request.method

    def set_header(self, request: httpx.Request, name: str, value: str) -> None:
        request.headers[name] = value

    def set_query(self, request: httpx.Request, name: str, value: str) -> None:
        request.url = request.url.copy_set_param(name, value)

    def replayable(self, request: httpx.Request) -> bool:
        return isinstance(request.stream, httpx.ByteStream)

    def status(self, response: httpx.Response) -> int:
        return response.status_code

    def headers(self, response: httpx.Response) -> Mapping[str, str]:
        return response.headers

    def replay_of(self, response: httpx.Response) -> httpx.Request:
        return response.request  # httpx requests are resent as they are (DigestAuth does the same)


REQUESTS_WIRE = RequestsWire()
HTTPX_WIRE = HttpxWire()


# -- the flow -----------------------------------------------------------------------------------------------


class RequestFlow:
    """
    The auth step of every API request of one connection (see the module docstring for the rules).

    :param origin: the API's origin, ``scheme://host:port`` (:func:`~airflow_oauth_connector.profile.origin_of`).
    :param presentation: how the token is placed on a request.
    :param header_sources: further headers per request (DPoP proofs, fixed API headers).
    :param rules: one-time replays, tried in order (default: renew once after a 401).
    :param body_rules: one-time replays that may read the answer's JSON body (the connection's renew signals),
        tried after ``rules`` and only for a request whose body can be sent again.
    """

    def __init__(
        self,
        origin: str,
        presentation: Presentation = Presentation(),
        *,
        header_sources: Sequence[HeaderSource] = (),
        rules: Sequence[ReplayRule] = DEFAULT_RULES,
        body_rules: Sequence[BodyRule] = (),
    ) -> None:
        self.origin = origin
        self.presentation = presentation
        self.header_sources = tuple(header_sources)
        self.rules = tuple(rules)
        self.body_rules = tuple(body_rules)
        statuses = [rule.statuses for rule in self.rules] + [rule.statuses for rule in self.body_rules]
        self.replay_statuses: frozenset[int] = frozenset().union(*statuses)
        self._same_origin: dict[str, bool] = {}  # "scheme://netloc" -> same origin? (bounded)

    @classmethod
    def for_profile(cls, profile: OAuthProfile) -> RequestFlow:
        body_rules = () if profile.renew_on is None else (RenewOnSignal(profile.renew_on),)
        if profile.dpop:  # RFC 9449: "Authorization: DPoP <token>", a fresh proof per request, nonce replays
            proofs = DPoPProofs(profile.api_origin)
            return cls(
                profile.api_origin,
                Presentation(profile.header_name, "DPoP"),
                header_sources=(proofs,),
                rules=(DPoPNonceReplay(proofs), DPoPNonceLoop(), *DEFAULT_RULES),
                body_rules=body_rules,
            )
        return cls(
            profile.api_origin,
            Presentation(profile.header_name, profile.header_prefix, profile.query_param),
            body_rules=body_rules,
        )

    def __repr__(self) -> str:
        return f"RequestFlow(origin={self.origin!r})"

    def rebind(self, origin: str) -> None:
        """Serve another origin from now on (a base URL resolved anew, e.g. from captured values)."""
        if origin != self.origin:
            self.origin = origin
            self._same_origin = {}

    def applies_to(self, url: str | None) -> bool:
        """Whether ``url`` is on the API's origin (verdicts cached per exact ``scheme://netloc``)."""
        if not url:
            return False
        head = _head(url)
        verdict = self._same_origin.get(head)
        if verdict is None:
            verdict = origin_of(url) == self.origin
            if len(self._same_origin) < 64:
                self._same_origin[head] = verdict
        return verdict

    def attach(self, request: Req, token: Token, wire: Wire[Req, Any]) -> Req:
        """Place ``token`` on ``request`` (replacing any earlier one) and add every source's headers."""
        presentation = self.presentation
        if presentation.query_param:
            wire.set_query(request, presentation.query_param, token.access_token)
        else:
            wire.set_header(request, presentation.header_name, presentation.header_value(token))
        if self.header_sources:
            method, url = wire.method(request), wire.url(request)
            for source in self.header_sources:
                for name, value in source(method, url, token).items():
                    wire.set_header(request, name, value)
        return request

    def steps(self, request: Req, wire: Wire[Req, Resp]) -> Generator[Req | TokenNeeded | BodyNeeded, Any, None]:
        """
        The flow for one request: yields requests to send (send back the response), :class:`TokenNeeded`
        (send back a token) and :class:`BodyNeeded` (send back the last response's JSON body, or ``None``).
        Ends when the last response is final. The token is renewed at most once per request, whichever rule
        asks for it.
        """
        if not self.applies_to(wire.url(request)):
            yield request  # another origin: sent as it is, nothing attached, never replayed
            return
        replayable = wire.replayable(request)  # judged before sending: sending may buffer a streamed body
        token: Token = yield _FIRST_TOKEN
        response: Resp = yield self.attach(request, token, wire)
        spent: set[int] = set()
        renewed = False
        while True:
            status = wire.status(response)
            if status not in self.replay_statuses:
                return
            headers = wire.headers(response)
            replay, index = self._claim(status, headers, spent, renewed)
            if replay is None and replayable and not renewed and self.body_rules:
                replay, index = yield from self._claim_by_body(status, headers, spent)
            if replay is None:
                return
            if not replayable:
                return
            answered = wire.replay_of(response)
            if not self.applies_to(wire.url(answered)):
                return
            spent.add(index)
            if replay is Replay.NEW_TOKEN:
                renewed = True
                log.info("%s answered %d; renewing the access token and sending the request again", self.origin, status)
                token = yield TokenNeeded(rejected=token)
            response = yield self.attach(answered, token, wire)

    def _claim(
        self, status: int, headers: Mapping[str, str], spent: set[int], renewed: bool
    ) -> tuple[Replay | None, int]:
        for index, rule in enumerate(self.rules):
            if index in spent or status not in rule.statuses:
                continue
            replay = rule(status, headers)
            if replay is Replay.NEW_TOKEN and renewed:
                continue  # the token was renewed for this request already: once is the limit
            if replay is not None:
                return replay, index
        return None, -1

    def _claim_by_body(
        self, status: int, headers: Mapping[str, str], spent: set[int]
    ) -> Generator[BodyNeeded, Any, tuple[Replay | None, int]]:
        """The :attr:`body_rules`' claim (numbered after :attr:`rules`); the body is asked for once, if needed."""
        body: Any = None
        asked = False
        for index, rule in enumerate(self.body_rules, len(self.rules)):
            if index in spent or status not in rule.statuses:
                continue
            if rule.needs_body and not asked:
                body, asked = (yield _BODY_NEEDED), True
            replay = rule(status, headers, body)
            if replay is not None:
                return replay, index
        return None, -1


def _resolve(tokens: TokenSource, need: TokenNeeded) -> Token:
    return tokens.get_token() if need.rejected is None else tokens.refresh_after_rejection(need.rejected)


async def _aresolve(tokens: AsyncTokenSource, need: TokenNeeded) -> Token:
    if need.rejected is None:
        return await tokens.get_token()
    return await tokens.refresh_after_rejection(need.rejected)


Steps = Generator[Req | TokenNeeded | BodyNeeded, Any, None]


def _no_body() -> Any:
    return None


def _advance(steps: Steps[Req], tokens: TokenSource, value: Any, read_body: Callable[[], Any] = _no_body) -> Req | None:
    """
    Send ``value`` (``None`` to start, else a response) into a flow; the next request, or ``None`` at its end.
    ``read_body``: the JSON body of that response, when a :class:`BodyRule` asks (:class:`BodyNeeded`).
    """
    try:
        step = steps.send(value)
        while isinstance(step, (TokenNeeded, BodyNeeded)):
            step = steps.send(_resolve(tokens, step) if isinstance(step, TokenNeeded) else read_body())
    except StopIteration:
        return None
    return step


def _requests_body(response: requests.Response, streamed: bool) -> Any:
    """
    The JSON body of a ``requests`` answer for a :class:`BodyRule`; ``None`` for a call that streams
    (``stream=True``: the body stays unread) or a body that is not :func:`inspectable`. Otherwise the body is read
    here rather than by ``requests`` right after the response hooks, and kept for the caller.
    """
    if streamed or not inspectable(response.headers, length_required=False):
        return None
    return parse_body(response.content)


async def _httpx_body(response: httpx.Response) -> Any:
    """
    The JSON body of an ``httpx`` answer for a :class:`BodyRule`. httpx does not tell an auth flow whether the
    caller streams, so only a body of declared, bounded length is read (:func:`inspectable`), unless the request
    carries :data:`BUFFERED_EXTENSION` (its caller reads the whole answer anyway: a chunked body, as servers that
    compress on the fly send, is read too). httpx keeps what was read; a caller that streams gets the same bytes.
    """
    buffered = bool(response.request.extensions.get(BUFFERED_EXTENSION))
    if not inspectable(response.headers, length_required=not buffered):
        return None
    return parse_body(await response.aread())


# -- requests adapter (the hook) ------------------------------------------------------------------------------


class OAuthAuth(AuthBase):
    """
    ``requests`` adapter of :class:`RequestFlow`: attaches the token to every request bound for the API's
    origin (never to any other) and, on a 401, renews it once and resends the request once.
    """

    def __init__(self, tokens: TokenSource, flow: RequestFlow) -> None:
        self.tokens = tokens
        self.flow = flow

    @classmethod
    def for_profile(cls, tokens: TokenSource, profile: OAuthProfile) -> OAuthAuth:
        return cls(tokens, RequestFlow.for_profile(profile))

    def __repr__(self) -> str:
        return f"OAuthAuth(origin={self.flow.origin!r})"

    def applies_to(self, url: str | None) -> bool:
        return self.flow.applies_to(url)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        steps = self.flow.steps(request, REQUESTS_WIRE)
        prepared = _advance(steps, self.tokens, None)
        assert prepared is not None  # a flow always sends its request once
        # appended directly: register_hook's isinstance(hook, Callable) is an ABC check on every request
        request.hooks["response"].append(functools.partial(_on_response, steps, self.tokens, self.flow.replay_statuses))
        return prepared


def _on_response(
    steps: Steps[requests.PreparedRequest],
    tokens: TokenSource,
    replay_statuses: frozenset[int],
    response: requests.Response,
    **send_kwargs: Any,
) -> requests.Response:
    """Response hook of one request (also called for each redirect hop, whose copies share the hooks)."""
    if response.status_code not in replay_statuses:
        return response  # the flow would end here: skip resuming it (the hot path)
    streamed = bool(send_kwargs.get("stream"))
    replayed: list[requests.Response] = []
    retry = _advance(steps, tokens, response, functools.partial(_requests_body, response, streamed))
    while retry is not None:
        replayed.append(response)
        response = response.connection.send(retry, **send_kwargs)
        response.request = retry
        retry = _advance(steps, tokens, response, functools.partial(_requests_body, response, streamed))
    if replayed:
        response.history = [*replayed, *response.history]
    return response


class OAuthSession(requests.Session):
    """
    A Session bound to an API base URL whose token never follows a cross-origin redirect.

    The environment's proxy and CA-bundle settings (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ...)
    apply as in any requests Session, but are read once per origin for the session's life instead of on every
    request: requests scans the whole process environment twice per request for them, which on a worker's
    environment costs more than everything else the hook adds to a request.
    """

    def __init__(self, base_url: str, auth: OAuthAuth) -> None:
        super().__init__()
        self.base_url = base_url
        self.auth = auth
        self._environment: dict[str, tuple[dict[str, str], str | None]] = {}  # "scheme://netloc" -> (bounded)

    def __repr__(self) -> str:
        return f"OAuthSession(base_url={self.base_url!r})"

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        if not self.trust_env or not isinstance(url, str) or (proxies and "no_proxy" in proxies):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)  # requests' own way
        env_proxies, env_bundle = self._environment_of(url)
        merged = dict(proxies or {})
        for scheme, proxy in env_proxies.items():
            merged.setdefault(scheme, proxy)
        if verify is True or verify is None:
            verify = env_bundle or verify
        merge = cast("Callable[[Any, Any], Any]", requests.sessions.merge_setting)
        return {
            "proxies": merge(merged, self.proxies),
            "stream": merge(stream, self.stream),
            "verify": merge(verify, self.verify),
            "cert": merge(cert, self.cert),
        }

    def _environment_of(self, url: str) -> tuple[dict[str, str], str | None]:
        """
        The environment's proxies for ``url``'s ``scheme://netloc`` (``NO_PROXY`` applied) and CA bundle, read
        once (for at most 64 of them, like :meth:`RequestFlow.applies_to`'s verdicts; others are read each time).
        """
        head = _head(url)
        found = self._environment.get(head)
        if found is None:
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
            found = (dict(requests.utils.get_environ_proxies(url)), bundle)
            if len(self._environment) < 64:
                self._environment[head] = found
        return found

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]
        auth = self.auth
        if isinstance(auth, OAuthAuth) and not auth.applies_to(prepared_request.url):
            strip_token(auth.flow.presentation, prepared_request, REQUESTS_WIRE)


def strip_token(presentation: Presentation, request: Any, wire: RequestsWire | HttpxWire) -> None:
    """Remove the token (header or query parameter) from a request that leaves the API's origin."""
    request.headers.pop(presentation.header_name, None)
    if presentation.query_param:
        if isinstance(wire, HttpxWire):
            request.url = request.url.copy_remove_param(presentation.query_param)
        else:
            request.url = replace_query_param(str(request.url), presentation.query_param, None)


# -- httpx adapter (the trigger) --------------------------------------------------------------------------------


#: ``httpx.Request.extensions`` key under which :class:`AsyncOAuthAuth` leaves its flow (redirects copy it).
FLOW_EXTENSION = "airflow_oauth_connector.flow"

#: ``httpx.Request.extensions`` key a caller sets (to ``True``) when it reads the whole answer anyway (not
#: ``client.stream``): then a :class:`BodyRule` may read a body of undeclared length (:func:`_httpx_body`).
BUFFERED_EXTENSION = "airflow_oauth_connector.buffered"


class AsyncOAuthAuth(httpx.Auth):
    """
    ``httpx`` adapter of :class:`RequestFlow` for an ``AsyncClient``: the same flow as :class:`OAuthAuth`,
    token needs answered by an :class:`AsyncTokenSource` without blocking the event loop.

    Works as a client's ``auth`` or per request (``client.request(..., auth=...)``, so that one client serves
    many connections). The client must have :func:`strip_foreign_token` as a request event hook and
    ``follow_redirects=True``: httpx itself drops only ``Authorization`` on a cross-origin redirect.
    """

    def __init__(self, tokens: AsyncTokenSource, flow: RequestFlow) -> None:
        self.tokens = tokens
        self.flow = flow

    def __repr__(self) -> str:
        return f"AsyncOAuthAuth(origin={self.flow.origin!r})"

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.extensions = {**request.extensions, FLOW_EXTENSION: self.flow}
        steps = self.flow.steps(request, HTTPX_WIRE)
        value: Any = None
        while True:
            try:
                step = steps.send(value)
                while isinstance(step, (TokenNeeded, BodyNeeded)):
                    answer = await (
                        _aresolve(self.tokens, step) if isinstance(step, TokenNeeded) else _httpx_body(value)
                    )
                    step = steps.send(answer)
            except StopIteration:
                return
            value = yield step

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("AsyncOAuthAuth serves httpx.AsyncClient only")


async def strip_foreign_token(request: httpx.Request) -> None:
    """httpx request event hook: a request (a redirect) leaving its flow's origin loses the token."""
    flow = request.extensions.get(FLOW_EXTENSION)
    if isinstance(flow, RequestFlow) and not flow.applies_to(str(request.url)):
        strip_token(flow.presentation, request, HTTPX_WIRE)


# -- tokens in an event loop ---------------------------------------------------------------------------------------


class _Flight:
    """The single flight of one token key in one loop: its lock, and how the flights that ended went."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.ended = 0  # flights (token requests in a worker thread) that ended, successful or not
        self.failure: tuple[int, Exception] | None = None  # the last one, when it failed

    def failure_since(self, seen: int) -> Exception | None:
        """The failure of a flight that ended while the caller waited (it began waiting at ``ended == seen``)."""
        if self.failure is not None and self.failure[0] > seen:
            return self.failure[1]
        return None

    async def run(self, call: Callable[[], Token]) -> Token:
        try:
            token = await asyncio.to_thread(call)
        except Exception as error:
            self.ended += 1
            self.failure = (self.ended, error)
            raise
        self.ended += 1
        self.failure = None
        return token


_flights: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Flight]] = weakref.WeakKeyDictionary()
_recent: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, int], tuple[object, Token]]] = (
    weakref.WeakKeyDictionary()
)


_managers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, TokenManager]] = weakref.WeakKeyDictionary()


def loop_manager(profile: OAuthProfile, make: Callable[[], TokenManager]) -> TokenManager:
    """
    The ``TokenManager`` of ``profile`` shared by every caller in the running event loop (``make`` builds it
    the first time, or again when the connection changed): the triggerer's triggers of one connection hold
    one token in memory instead of one each, and skip choosing and opening a store per call.
    """
    managers = _managers.setdefault(asyncio.get_running_loop(), {})
    manager = managers.get(profile.cache_key)
    if manager is None or manager.profile != profile:
        manager = managers[profile.cache_key] = make()
    return manager


class AsyncTokens:
    """
    A ``TokenManager`` seen from an event loop (the triggerer's), with single flight across its callers.

    A valid token this process already holds is served without I/O. Otherwise one caller per token key
    at a time (an ``asyncio.Lock`` per key and loop) asks the manager in a worker thread (store read, token
    request under the store's lock); the others wait in the loop, then adopt the token it obtained if it
    suits their profile (the same key and store), so many triggers that need a token at once cause one
    token request and one worker-thread hop. When that request fails (after its retries), the callers that
    were waiting for it get the same error at once, as awaiters of one future would, instead of each making
    the failing request again in turn; a caller that comes later tries again.
    """

    def __init__(self, manager: TokenManager) -> None:
        self.manager = manager
        self._key = (manager.key, id(manager.store))

    def __repr__(self) -> str:
        return f"AsyncTokens({self.manager!r})"

    async def get_token(self) -> Token:
        token = self.manager.cached()
        if token is not None:
            return token
        return await self._obtain(None, self.manager.get_token)

    async def refresh_after_rejection(self, rejected: Token) -> Token:
        return await self._obtain(rejected, lambda: self.manager.refresh_after_rejection(rejected))

    async def _obtain(self, rejected: Token | None, call: Callable[[], Token]) -> Token:
        flight = self._flight()
        seen = flight.ended
        async with flight.lock:
            token = self._adopt(rejected)
            if token is not None:
                return token
            failure = flight.failure_since(seen)
            if failure is not None:
                raise failure
            token = await flight.run(call)
            self._remember(token)
            return token

    def _flight(self) -> _Flight:
        flights = _flights.setdefault(asyncio.get_running_loop(), {})
        flight = flights.get(self.manager.key)
        if flight is None:
            flight = flights[self.manager.key] = _Flight()
        return flight

    def _adopt(self, rejected: Token | None) -> Token | None:
        token = self.manager.cached()
        if token is None:
            entry = _recent.get(asyncio.get_running_loop(), {}).get(self._key)
            if entry is not None and self.manager.adopt(entry[1]):
                token = entry[1]
        if token is not None and rejected is not None and token.access_token == rejected.access_token:
            return None
        return token

    def _remember(self, token: Token) -> None:
        # the store object is kept with the token so that its id is not reused while the entry lives
        _recent.setdefault(asyncio.get_running_loop(), {})[self._key] = (self.manager.store, token)
