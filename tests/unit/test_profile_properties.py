"""Property-based tests: parsing untrusted input only ever raises the package's own errors, and never leaks secrets."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_oauth_connector.exceptions import ProfileError, TokenEndpointError, TokenResponseError
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.token import Token, parse_token_body
from tests.support.builders import CLIENT_SECRET, REFRESH

# UNIT_HYPOTHESIS_EXAMPLES=5000 for a deeper local run; 200 keeps the suite fast.
FAST = settings(
    max_examples=int(os.environ.get("UNIT_HYPOTHESIS_EXAMPLES", "200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

T = TypeVar("T")

# --- strategies ---------------------------------------------------------------------------------------------

# The "safe" strategies stay clear of non-finite or huge numbers, brackets in URLs and out-of-range ports, so
# that most examples reach deep into the parser; the "wild" ones include them.
safe_text = st.text(st.characters(blacklist_characters="[]", blacklist_categories=["Cs"]), max_size=30)
safe_numbers = st.integers(-(10**6), 10**6) | st.floats(allow_infinity=False, min_value=-1e12, max_value=1e12)
safe_numeric_text = st.sampled_from(["", " ", "3", "0", "-1", "2.5", " 10 ", "abc", "nan", "1e3", "0x10", "true"])
scalars = st.none() | st.booleans() | safe_numbers | safe_text
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(safe_text, children, max_size=3),
    max_leaves=6,
)

good_urls = st.sampled_from(
    [
        "https://auth.example.com/token",
        "https://auth.example.com:8443/o/token/?a=b",
        "http://127.0.0.1:8000/token",
        "http://[::1]:9000/token",
        "http://localhost/token",
        "http://auth.example.com/token",
        "ftp://auth.example.com/token",
        "auth.example.com/token",
        "https://",
        "https:///token",
        "   ",
        "",
    ]
)
url_values = good_urls | safe_text | json_values
string_maps = st.dictionaries(safe_text, json_values, max_size=4)
access_param_objects = st.dictionaries(
    st.sampled_from(["query", "headers", "body", "form", ""]),
    string_maps | json_values,
    max_size=4,
)
access_param_values = access_param_objects | access_param_objects.map(json.dumps) | json_values | safe_text
authorize_param_values = string_maps | string_maps.map(json.dumps) | json_values | safe_text
numbers = safe_numbers | safe_numeric_text | json_values
bools = (
    st.booleans() | st.sampled_from(["true", "false", "yes", "no", "0", "1", "on", "off", "maybe", ""]) | json_values
)
choices = st.sampled_from(
    ["client_credentials", "authorization_code", "Authorization-Code", "password", "header", "basic", "post", "none"]
)

EXTRA_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "grant_type": choices | json_values,
    "access_url": url_values,
    "authorize_url": url_values,
    "issuer_url": url_values,
    "redirect_uri": url_values,
    "scope": safe_text | json_values,
    "client_auth": choices | json_values,
    "access_params": access_param_values,
    "authorize_params": authorize_param_values,
    "pkce": bools,
    "refresh_token": st.just(REFRESH) | st.just(f"  {REFRESH}\n") | json_values,
    "header_name": st.sampled_from(["X-Api-Key", "Authorization", "bad name", ""]) | json_values,
    "header_prefix": st.sampled_from(["", "Bearer", "Token", "a\r\nb"]) | json_values,
    "query_param": safe_text | json_values,
    "timeout": numbers,
    "expiry_leeway": numbers,
    "default_expires_in": numbers,
    "retry_max_attempts": numbers,
    "retry_max_seconds": numbers,
    "retry_non_idempotent": bools,
    "ca_bundle": safe_text | json_values,
    "verify_tls": bools,
    "allow_insecure_http": bools,
}
extras = st.fixed_dictionaries({}, optional=EXTRA_STRATEGIES) | st.fixed_dictionaries(
    {"access_url": good_urls}, optional={k: v for k, v in EXTRA_STRATEGIES.items() if k != "access_url"}
)
hosts = (
    st.sampled_from(
        [
            "https://api.example.com/v1",
            "https://api.example.com:8443",
            "http://127.0.0.1:8080/",
            "http://api.example.com",
            "api.example.com",
            "",
        ]
    )
    | safe_text
    | st.none()
)
ports = st.none() | st.integers(0, 65535)
logins = st.sampled_from(["client-id", " id ", ""]) | safe_text | st.none()
passwords = st.sampled_from([CLIENT_SECRET, "", None])


def attempt(call: Callable[[], T], *allowed: type[BaseException]) -> tuple[T | None, BaseException | None]:
    """``(result, None)`` or ``(None, error)`` for an allowed error; anything else propagates and fails the test."""
    try:
        return call(), None
    except allowed as error:
        return None, error


def assert_no_secret(error: BaseException | None) -> None:
    if error is not None:
        for text in (str(error), repr(error), getattr(error, "problem", "")):
            assert CLIENT_SECRET not in text
            assert REFRESH not in text


def check_profile(extra: dict[str, Any], host: str | None, port: int | None, login: str | None, password: str | None):
    profile, error = attempt(
        lambda: OAuthProfile.from_fields(
            "prop_conn", host=host, port=port, login=login, password=password, extra=extra
        ),
        ProfileError,
    )
    assert_no_secret(error)
    if isinstance(error, ProfileError):
        assert error.conn_id == "prop_conn"
        assert isinstance(error.field, str)
        assert error.field
        return
    assert isinstance(profile, OAuthProfile)
    assert CLIENT_SECRET not in repr(profile)
    assert REFRESH not in repr(profile)
    assert profile.base_url.startswith(("http://", "https://"))
    assert profile.access_url or profile.issuer_url
    assert profile.retry.max_attempts >= 1
    assert profile.timeout >= 0.1
    again = OAuthProfile.from_fields("prop_conn", host=host, port=port, login=login, password=password, extra=extra)
    assert again.cache_key == profile.cache_key


@FAST
@given(extra=extras, host=hosts, port=ports, login=logins, password=passwords)
def test_from_fields_returns_profile_or_profile_error(extra, host, port, login, password):
    check_profile(extra, host, port, login, password)


@FAST
@given(extra=extras, host=hosts, port=ports, login=logins, password=passwords)
def test_from_fields_extras_as_connection_json(extra, host, port, login, password):
    # What Connection.extra_dejson gives back: the extras after a JSON round trip.
    check_profile(json.loads(json.dumps(extra)), host, port, login, password)


@FAST
@given(
    value=st.text(max_size=40),
    body=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
)
def test_secret_in_access_params_body_never_in_error(value, body):
    extra = {
        "access_url": "https://auth.example.com/token",
        "access_params": {"body": {**body, "secret": CLIENT_SECRET}},
    }
    extra["access_params"]["body"]["x"] = value  # may be fine, or hold a line break
    _, error = attempt(
        lambda: OAuthProfile.from_fields(
            "c", host="https://api.example.com", login="id", password=CLIENT_SECRET, extra=extra
        ),
        ProfileError,
    )
    assert_no_secret(error)


# Valid values for every key: an all-valid profile must be accepted, and one bad key must be the one named.
HEADER_TOKEN = "!#$%&'*+.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-"
one_line = st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"]), max_size=20)
map_values = one_line | st.integers(-(10**9), 10**9) | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
valid_maps = st.dictionaries(one_line, map_values, max_size=3)
header_names = st.text(HEADER_TOKEN, min_size=1, max_size=20)
valid_access_params = st.fixed_dictionaries(
    {},
    optional={
        "query": valid_maps,
        "headers": st.dictionaries(header_names, map_values, max_size=3),
        "body": valid_maps,
    },
)
https_urls = st.sampled_from(
    ["https://auth.example.com/x", "https://auth.example.com:8443/o/x?tenant=1", "http://127.0.0.1:8000/x"]
)
valid_bools = st.booleans() | st.sampled_from(["true", "False", " yes ", "0", "on", ""])
VALID_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "grant_type": st.sampled_from(["client_credentials", "authorization_code", "Authorization-Code", ""]),
    "issuer_url": https_urls,
    "redirect_uri": https_urls,
    "scope": safe_text,
    "client_auth": st.sampled_from(["header", "basic", "client_secret_basic", "body", "post", "none", "public"]),
    "access_params": valid_access_params | valid_access_params.map(json.dumps),
    "authorize_params": valid_maps | valid_maps.map(json.dumps),
    "pkce": valid_bools,
    "refresh_token": st.just(REFRESH),
    "header_name": header_names,
    "header_prefix": one_line,
    "query_param": safe_text,
    "timeout": st.floats(0.1, 1e6) | st.sampled_from(["5", "0.1", 30]),
    "expiry_leeway": st.floats(0, 1e6) | st.integers(0, 10**6),
    "default_expires_in": st.floats(1, 1e9) | st.sampled_from(["3600", 60]),
    "retry_max_attempts": st.integers(1, 100) | st.sampled_from(["3", "1.5"]),
    "retry_max_seconds": st.floats(0.1, 1e6),
    "retry_non_idempotent": valid_bools,
    "ca_bundle": safe_text,
    "verify_tls": valid_bools,
    "allow_insecure_http": valid_bools,
}
valid_extras = st.fixed_dictionaries({"access_url": https_urls, "authorize_url": https_urls}, optional=VALID_STRATEGIES)
mutated_keys = st.sampled_from(sorted(k for k in EXTRA_STRATEGIES if k not in ("grant_type", "client_auth")))


@FAST
@given(extra=valid_extras, port=ports)
def test_valid_extras_always_accepted(extra, port):
    profile = OAuthProfile.from_fields(
        "c", host="https://api.example.com/v1", port=port, login="id", password=CLIENT_SECRET, extra=extra
    )
    assert CLIENT_SECRET not in repr(profile)
    assert REFRESH not in repr(profile)
    assert profile.access_url == extra["access_url"]


@FAST
@given(extra=valid_extras, key=mutated_keys, data=st.data())
def test_one_bad_key_is_the_field_named(extra, key, data):
    value = data.draw(EXTRA_STRATEGIES[key], label=key)
    extra = {**extra, key: value}
    profile, error = attempt(
        lambda: OAuthProfile.from_fields(
            "c", host="https://api.example.com/v1", login="id", password=CLIENT_SECRET, extra=extra
        ),
        ProfileError,
    )
    assert_no_secret(error)
    if isinstance(error, ProfileError):
        assert error.field == key or error.field.startswith(f"{key}.")
    else:
        assert CLIENT_SECRET not in repr(profile)


wild_numbers = st.integers() | st.floats() | st.sampled_from(["inf", "-inf", "1e999", "Infinity"])
wild_urls = st.text(max_size=30) | st.sampled_from(["https://[::1/token", "https://a.example.com:99999/t"])


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    number_key=st.sampled_from(["timeout", "retry_max_attempts", "retry_max_seconds", "default_expires_in"]),
    number=wild_numbers,
    url=wild_urls,
    host=st.text(max_size=30),
    port=st.none() | st.integers(0, 70000),
)
@example(number_key="retry_max_attempts", number="inf", url="https://auth.example.com/t", host="https://a.b", port=None)
def test_from_fields_wild_inputs(number_key, number, url, host, port):
    extra = {"access_url": url, number_key: number}
    _, error = attempt(
        lambda: OAuthProfile.from_fields("c", host=host, port=port, login="id", password=CLIENT_SECRET, extra=extra),
        ProfileError,
    )
    assert_no_secret(error)


# --- parse_token_body ---------------------------------------------------------------------------------------

content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "text/html",
        "text/plain",
        "",
    ]
) | st.text(max_size=20)
json_payloads = st.dictionaries(
    st.sampled_from(
        ["access_token", "token_type", "expires_in", "refresh_token", "scope", "error", "error_description", "x"]
    ),
    json_values,
    max_size=6,
)
form_payloads = st.dictionaries(
    st.sampled_from(["access_token", "token_type", "expires_in", "error", "error_description", "x"]),
    st.text(max_size=20),
    max_size=5,
)
bodies = (
    st.binary(max_size=300)
    | json_payloads.map(lambda d: json.dumps(d).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | form_payloads.map(lambda d: urlencode(d).encode())
    | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass"))
    | st.sampled_from([b"<html><body>502</body></html>", b"{", b"{" * 5000, b"error=&access_token="])
)
statuses = st.integers(100, 599)


def parse_and_build(body: bytes, content_type: str, status: int) -> Token | None:
    try:
        payload = parse_token_body(body, content_type, status)
    except (TokenResponseError, TokenEndpointError):
        return None
    assert isinstance(payload, dict)
    assert status < 400
    assert not (isinstance(payload.get("error"), str) and payload["error"])
    try:
        token = Token.from_payload(payload, now=1000.0, default_lifetime=60.0, previous_refresh_token="old")
    except TokenResponseError:
        return None
    assert token.access_token
    assert token.token_type
    assert token.expires_at is None or token.expires_at >= 1000.0
    assert Token.from_dict(token.to_dict()) == token
    return token


@FAST
@given(body=bodies, content_type=content_types, status=statuses)
def test_parse_token_body_only_raises_token_errors(body, content_type, status):
    parse_and_build(body, content_type, status)


@FAST
@given(payload=json_payloads, status=statuses)
def test_token_endpoint_error_message_never_carries_tokens(payload, status):
    payload = {**payload, "refresh_token": REFRESH, "access_token": CLIENT_SECRET}
    _, error = attempt(
        lambda: parse_token_body(json.dumps(payload).encode(), "application/json", status),
        TokenResponseError,
        TokenEndpointError,
    )
    assert_no_secret(error)


@settings(max_examples=50, deadline=None, database=None)
@given(expires_in=st.integers() | st.floats())
@example(expires_in=10**400)
def test_any_expires_in_from_server(expires_in):
    parse_and_build(json.dumps({"access_token": "at", "expires_in": expires_in}).encode(), "application/json", 200)
