"""requests auth: attach the token to same-origin requests; on a 401, refresh once and replay once."""

from __future__ import annotations

import functools
import logging
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

from airflow_oauth_connector.profile import OAuthProfile, origin_of
from airflow_oauth_connector.token import Token

log = logging.getLogger(__name__)

_REPLAYED = "_oauth_connector_replayed"


class TokenSource(Protocol):
    def get_token(self) -> Token: ...

    def refresh_after_rejection(self, rejected: Token) -> Token: ...


class OAuthAuth(AuthBase):
    """
    Attaches the access token to every request bound for ``origin`` (never to any other origin).

    As a header (``Authorization: Bearer <token>`` by default; name and prefix configurable) or as a
    query parameter. A 401 answer makes it renew the token once and resend the request once.
    """

    def __init__(
        self,
        tokens: TokenSource,
        origin: str,
        *,
        header_name: str = "Authorization",
        header_prefix: str = "Bearer",
        query_param: str | None = None,
    ) -> None:
        self.tokens = tokens
        self.origin = origin
        self.header_name = header_name
        self.header_prefix = header_prefix
        self.query_param = query_param
        self._same_origin: dict[str, bool] = {}  # "scheme://netloc" -> same origin? (bounded)

    @classmethod
    def for_profile(cls, tokens: TokenSource, profile: OAuthProfile) -> OAuthAuth:
        return cls(
            tokens,
            profile.api_origin,
            header_name=profile.header_name,
            header_prefix=profile.header_prefix,
            query_param=profile.query_param,
        )

    def __repr__(self) -> str:
        return f"OAuthAuth(origin={self.origin!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if not self.applies_to(request.url):
            return request
        token = self.tokens.get_token()
        self.attach(request, token)
        request.register_hook("response", functools.partial(self._on_response, token))  # type: ignore[no-untyped-call]
        return request

    def applies_to(self, url: str | None) -> bool:
        if not url:
            return False
        start = url.find("//")
        end = url.find("/", start + 2) if start >= 0 else -1
        head = url if end < 0 else url[:end]  # "scheme://netloc" (the whole URL when it has no path)
        verdict = self._same_origin.get(head)
        if verdict is None:
            verdict = origin_of(url) == self.origin
            if len(self._same_origin) < 64:
                self._same_origin[head] = verdict
        return verdict

    def attach(self, request: requests.PreparedRequest, token: Token) -> None:
        if self.query_param:
            request.url = _replace_param(str(request.url), self.query_param, token.access_token)
        else:
            value = f"{self.header_prefix} {token.access_token}" if self.header_prefix else token.access_token
            request.headers[self.header_name] = value

    def _on_response(self, token: Token, response: requests.Response, **send_kwargs: Any) -> requests.Response:
        request = response.request
        if (
            response.status_code != 401
            or getattr(request, _REPLAYED, False)
            or not self.applies_to(request.url)
            or not _replayable(request)
        ):
            return response
        log.info("%s answered 401; renewing the access token and sending the request once more", self.origin)
        fresh = self.tokens.refresh_after_rejection(token)
        response.content  # noqa: B018 - read the body so the connection can be reused
        response.close()
        retry = request.copy()
        setattr(retry, _REPLAYED, True)
        self.attach(retry, fresh)
        adapter = response.connection
        replayed: requests.Response = adapter.send(retry, **send_kwargs)
        replayed.history.append(response)
        replayed.request = retry
        return replayed


def _replace_param(url: str, name: str, value: str | None) -> str:
    """``url`` with query parameter ``name`` removed, then set to ``value`` unless that is ``None``."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    if value is not None:
        query.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _replayable(request: requests.PreparedRequest) -> bool:
    return request.body is None or isinstance(request.body, (bytes, str))


class OAuthSession(requests.Session):
    """A Session bound to an API base URL whose custom token header never follows a cross-origin redirect."""

    def __init__(self, base_url: str, auth: OAuthAuth) -> None:
        super().__init__()
        self.base_url = base_url
        self.auth = auth

    def __repr__(self) -> str:
        return f"OAuthSession(base_url={self.base_url!r})"

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]
        auth = self.auth
        if isinstance(auth, OAuthAuth) and not auth.applies_to(prepared_request.url):
            prepared_request.headers.pop(auth.header_name, None)
            if auth.query_param:
                prepared_request.url = _replace_param(str(prepared_request.url), auth.query_param, None)
