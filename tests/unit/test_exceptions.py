"""Typed errors: hierarchy, attributes and messages."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_oauth_connector import exceptions as exc
from airflow_oauth_connector.exceptions import (
    REFRESH_TOKEN_EXPIRED,
    ApiResponseError,
    AuthorizationRequiredError,
    EndpointUnreachableError,
    ForeignOriginError,
    InvalidClientError,
    InvalidGrantError,
    InvalidScopeError,
    OAuthConnectorError,
    ProfileError,
    ReauthorizationRequiredError,
    RefreshTokenExpiredError,
    TokenEndpointError,
    TokenResponseError,
    UnauthorizedClientError,
)


@pytest.mark.parametrize(
    "cls",
    [
        ProfileError,
        exc.DiscoveryError,
        TokenResponseError,
        TokenEndpointError,
        InvalidClientError,
        InvalidGrantError,
        UnauthorizedClientError,
        InvalidScopeError,
        AuthorizationRequiredError,
        ForeignOriginError,
        ApiResponseError,
        EndpointUnreachableError,
    ],
)
def test_hierarchy(cls):
    assert issubclass(cls, OAuthConnectorError)
    assert issubclass(cls, AirflowException)


def test_profile_error():
    error = ProfileError("my_conn", "scope", "expected text")
    assert (error.conn_id, error.field, error.problem) == ("my_conn", "scope", "expected text")
    assert str(error) == "Connection 'my_conn': Scope (scope): expected text"  # the form's label, then the key


def test_token_response_error_status():
    assert TokenResponseError("bad", status_code=502).http_status == 502
    assert TokenResponseError("bad").http_status is None
    assert str(TokenResponseError("bad body")) == "bad body"


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("invalid_client", InvalidClientError),
        ("invalid_grant", InvalidGrantError),
        ("unauthorized_client", UnauthorizedClientError),
        ("unsupported_grant_type", UnauthorizedClientError),
        ("invalid_scope", InvalidScopeError),
        ("invalid_request", TokenEndpointError),
        ("temporarily_unavailable", TokenEndpointError),
        ("", TokenEndpointError),
    ],
)
def test_token_endpoint_error_create(code, cls):
    error = TokenEndpointError.create(code, "desc", 400)
    assert type(error) is cls
    assert error.error == code
    assert error.description == "desc"
    assert error.http_status == 400


@pytest.mark.parametrize(
    ("cls", "hint"),
    [
        (InvalidClientError, "client_auth"),
        (InvalidGrantError, "authorize the connection again"),
        (UnauthorizedClientError, "does not allow this client"),
        (InvalidScopeError, "'scope' field"),
    ],
)
def test_permanent_errors_have_hints(cls, hint):
    error = cls("code", None)
    assert cls.permanent is True
    assert hint in str(error)
    assert str(error).startswith("Token endpoint returned error 'code'. ")


def test_token_endpoint_error_message_parts():
    assert str(TokenEndpointError("slow_down")) == "Token endpoint returned error 'slow_down'"
    assert TokenEndpointError.permanent is False
    assert str(TokenEndpointError("x", "Try later", status_code=503)) == (
        "Token endpoint returned error 'x' (HTTP 503): Try later"
    )
    assert str(TokenEndpointError("x", "", status_code=None)) == "Token endpoint returned error 'x'"


def test_authorization_required_error():
    error = AuthorizationRequiredError("my_conn")
    assert error.conn_id == "my_conn"
    assert "Connection 'my_conn' needs authorization: it has not been authorized yet." in str(error)
    assert "refresh_token" in str(error)
    assert "the refresh token was revoked" in str(AuthorizationRequiredError("c", "the refresh token was revoked"))


def test_refresh_token_expired_error_says_when_and_what_to_do():
    error = RefreshTokenExpiredError("my_conn", expired_at=1_795_915_380.0)
    assert isinstance(error, ReauthorizationRequiredError)
    assert (error.conn_id, error.kind, error.expired_at) == ("my_conn", REFRESH_TOKEN_EXPIRED, 1_795_915_380.0)
    assert "its refresh token expired at 2026-11-29 01:23 UTC" in str(error)
    assert "Authorize it from the 'OAuth profiles' page" in str(error)
    assert "its refresh token expired (the lifetime" in str(RefreshTokenExpiredError("c", expired_at=None))


def test_foreign_origin_error():
    error = ForeignOriginError("https://evil.example.com:443", "https://api.example.com:443")
    assert error.url_origin == "https://evil.example.com:443"
    assert error.api_origin == "https://api.example.com:443"
    assert "Refusing to send this connection's token to https://evil.example.com:443" in str(error)
    assert "origin https://api.example.com:443" in str(error)


def test_api_response_error():
    error = ApiResponseError("GET", "https://api.example.com/x", 404, "Not Found", '{"detail": "no"}')
    assert (error.method, error.url, error.http_status, error.reason, error.excerpt) == (
        "GET",
        "https://api.example.com/x",
        404,
        "Not Found",
        '{"detail": "no"}',
    )
    assert str(error) == 'GET https://api.example.com/x failed: HTTP 404 Not Found - {"detail": "no"}'
    assert str(ApiResponseError("GET", "u", 500, "", "")) == "GET u failed: HTTP 500"


@pytest.mark.parametrize(("attempts", "word"), [(1, "1 attempt "), (3, "3 attempts ")])
def test_endpoint_unreachable_error(attempts, word):
    error = EndpointUnreachableError("POST", "https://auth.example.com/token", "ConnectTimeout: t", attempts, 2.345)
    assert error.attempts == attempts
    assert error.elapsed == 2.345
    assert error.reason == "ConnectTimeout: t"
    assert f"POST https://auth.example.com/token failed after {word}in 2.3 s: ConnectTimeout: t." in str(error)


def test_every_exception_of_the_package_is_defined_in_exceptions_and_subclasses_the_base():
    """No module defines its own exception class: each lives in exceptions.py and is an OAuthConnectorError."""
    import importlib
    import inspect
    import pkgutil

    import airflow_oauth_connector

    found = []
    for info in pkgutil.walk_packages(airflow_oauth_connector.__path__, "airflow_oauth_connector."):
        if info.name == exc.__name__:
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == info.name:
                found.append(f"{info.name}.{obj.__name__}")
    assert found == []
    for name, obj in vars(exc).items():
        if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == exc.__name__:
            assert issubclass(obj, OAuthConnectorError), name
            assert obj.__name__.endswith("Error") or obj.__name__ == "DeferredCallFailed", name


def test_old_names_are_aliases():
    assert exc.ResponseCheckFailed is exc.ResponseCheckError
    assert exc.TokenStoreLockTimeout is exc.TokenStoreLockTimeoutError
    assert issubclass(exc.CliError, OAuthConnectorError)
    assert exc.CliError("x", 2).exit_code == 2
    assert "10 minutes" in str(exc.StateError("expired"))


@pytest.mark.parametrize(
    ("cause", "hint"),
    [
        ("refused", "Check the Access token URL field (access_url) and that the server is reachable from the worker"),
        ("dns", "Check the Access token URL field (access_url) and that the server is reachable from the worker"),
        ("timeout", "or raise the connection's timeout or retry limits"),
        ("closed", "or raise the connection's timeout or retry limits"),
        ("tls", "and the connection's TLS settings ('verify', CA bundle)"),
    ],
)
def test_an_unreachable_token_url_has_the_hint_of_its_cause(cause, hint):
    error = EndpointUnreachableError(
        "POST", "https://auth.example.com/token", "ConnectionError: raw", 2, 1.0, cause=cause, detail="what happened"
    ).located("crm", field="Access token URL field (access_url)")
    assert str(error).startswith(
        "Connection 'crm' could not reach its token URL https://auth.example.com/token: what happened "
        "(2 attempts in 1.0 s). "
    )
    assert hint in str(error)
    assert ("retry limits" in str(error)) is (cause in ("timeout", "closed"))
    assert "raw" not in str(error)


def test_located_errors_cross_a_deferral_as_they_are():
    from airflow_oauth_connector.events import error_from_event, error_to_event
    from airflow_oauth_connector.exceptions import InvalidClientError

    errors = [
        InvalidClientError("invalid_client", "bad", status_code=401).located("crm", url="https://a.example/token"),
        EndpointUnreachableError("POST", "https://a.example/token", "r", 1, 0.5, cause="dns", detail="d").located(
            "crm", field="Access token URL field (access_url)"
        ),
    ]
    for error in errors:
        rebuilt = error_from_event(error_to_event(error))
        assert type(rebuilt) is type(error)
        assert str(rebuilt) == str(error)


_URL = "https://a.example/token"


@pytest.mark.parametrize(
    ("unlocated", "where", "located_directly"),
    [
        (
            lambda: TokenResponseError("no access_token", status_code=200),
            {"url": _URL},
            lambda: TokenResponseError("no access_token", status_code=200, conn_id="crm", url=_URL),
        ),
        (
            lambda: TokenEndpointError.create("invalid_scope", "bad scope", 400),
            {"url": _URL},
            lambda: InvalidScopeError("invalid_scope", "bad scope", status_code=400, conn_id="crm", url=_URL),
        ),
        (
            lambda: exc.GrantRefusedError(401),
            {"url": _URL},
            lambda: exc.GrantRefusedError(401, conn_id="crm", url=_URL),
        ),
        (
            lambda: EndpointUnreachableError("POST", _URL, "r", 3, 2.0, never_sent=True, cause="refused", detail="d"),
            {"field": "Issuer URL field (issuer_url)", "what": "its issuer's metadata at"},
            lambda: EndpointUnreachableError(
                "POST",
                _URL,
                "r",
                3,
                2.0,
                never_sent=True,
                cause="refused",
                detail="d",
                conn_id="crm",
                field="Issuer URL field (issuer_url)",
                what="its issuer's metadata at",
            ),
        ),
    ],
)
def test_located_is_the_error_built_with_its_connection(unlocated, where, located_directly):
    """``located`` rebuilds the error from its arguments: the same type, message and attributes as building it
    with the connection, and an error that names its connection already is returned as it is."""
    located = unlocated().located("crm", **where)
    expected = located_directly()
    assert type(located) is type(expected)
    assert str(located) == str(expected)
    assert vars(located) == vars(expected)
    assert located.located("other", **where) is located
