"""Token state and token-endpoint body parsing."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from airflow_oauth_connector.exceptions import (
    InvalidClientError,
    InvalidGrantError,
    InvalidScopeError,
    TokenEndpointError,
    TokenResponseError,
    UnauthorizedClientError,
)
from airflow_oauth_connector.profile import ResponseMap
from airflow_oauth_connector.token import Token, parse_token_body

NOW = 1_700_000_000.0
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def from_payload(payload: dict, *, default: float | None = None, previous: str | None = None) -> Token:
    return Token.from_payload(payload, now=NOW, default_lifetime=default, previous_refresh_token=previous)


# --- Token.from_payload -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("expires_in", "lifetime"), [(3600, 3600), ("3600", 3600), (" 120 ", 120), (0, 0), (1.5, 1.5)])
def test_expires_in_numbers_and_numeric_strings(expires_in, lifetime):
    token = from_payload({"access_token": "at", "expires_in": expires_in}, default=99)
    assert token.expires_at == NOW + lifetime
    assert token.issued_at == NOW
    assert token.expires_in(NOW) == lifetime


def test_expires_in_absent_without_default():
    token = from_payload({"access_token": "at"})
    assert token.expires_at is None
    assert token.expires_in(NOW) is None
    assert token.needs_refresh(NOW + 10**9, 60) is False


def test_expires_in_absent_with_default():
    assert from_payload({"access_token": "at"}, default=900).expires_at == NOW + 900


@pytest.mark.parametrize("junk", [-1, "-5", "soon", "", None, True, False, [], {}, "nan", "inf", float("inf")])
def test_expires_in_negative_or_junk_falls_back_to_default(junk):
    assert from_payload({"access_token": "at", "expires_in": junk}, default=300).expires_at == NOW + 300
    assert from_payload({"access_token": "at", "expires_in": junk}).expires_at is None


@pytest.mark.parametrize(
    ("token_type", "expected"),
    [
        ("bearer", "Bearer"),
        ("BEARER", "Bearer"),
        (" Bearer ", "Bearer"),
        ("MAC", "MAC"),
        ("DPoP", "DPoP"),
        (None, "Bearer"),
        ("", "Bearer"),
        (42, "Bearer"),
    ],
)
def test_token_type_normalised(token_type, expected):
    payload = {"access_token": "at"}
    if token_type is not None:
        payload["token_type"] = token_type
    assert from_payload(payload).token_type == expected


def test_refresh_token_new_one_wins():
    assert from_payload({"access_token": "at", "refresh_token": "new"}, previous="old").refresh_token == "new"


@pytest.mark.parametrize("returned", [None, "", 123])
def test_refresh_keeps_previous_refresh_token(returned):
    payload = {"access_token": "at"}
    if returned is not None:
        payload["refresh_token"] = returned
    assert from_payload(payload, previous="old").refresh_token == "old"
    assert from_payload(payload).refresh_token is None


@pytest.mark.parametrize(
    ("scope", "expected"),
    [("read write", "read write"), (["read", "write"], "read write"), ([], None), ("", None), (7, None)],
)
def test_scope(scope, expected):
    assert from_payload({"access_token": "at", "scope": scope}).scope == expected


@pytest.mark.parametrize("payload", [{}, {"access_token": ""}, {"access_token": 5}, {"token_type": "bearer"}])
def test_missing_access_token(payload):
    with pytest.raises(TokenResponseError, match="no 'access_token'"):
        from_payload(payload)


def test_missing_access_token_lists_keys_not_values():
    with pytest.raises(TokenResponseError) as info:
        from_payload({"refresh_token": "rt-SECRET", "token_type": "bearer"})
    assert "refresh_token, token_type" in str(info.value)
    assert "rt-SECRET" not in str(info.value)


# --- needs_refresh, serialisation, repr ---------------------------------------------------------------------


def test_needs_refresh_with_leeway():
    token = Token(access_token="at", expires_at=NOW + 100)
    assert token.needs_refresh(NOW, 0) is False
    assert token.needs_refresh(NOW, 99) is False
    assert token.needs_refresh(NOW, 100) is True
    assert token.needs_refresh(NOW + 50, 60) is True
    assert token.needs_refresh(NOW + 100, 0) is True
    assert token.needs_refresh(NOW + 200, 0) is True


def test_refresh_from_is_where_needs_refresh_starts():
    token = Token(access_token="at", expires_at=NOW + 100, issued_at=NOW)
    for leeway in (0, 30, 60, 500):  # the leeway is capped at half the lifetime (50 s)
        due = token.refresh_from(leeway)
        assert due == NOW + 100 - min(leeway, 50)
        assert token.needs_refresh(due, leeway) is True
        assert token.needs_refresh(due - 0.001, leeway) is False
    assert Token(access_token="at").refresh_from(60) == math.inf


def test_to_dict_from_dict_round_trip():
    token = Token(
        access_token="at",
        token_type="Bearer",
        expires_at=NOW + 60,
        refresh_token="rt",
        scope="a b",
        issued_at=NOW,
        origin="o1",
    )
    data = token.to_dict()
    assert data == {
        "access_token": "at",
        "token_type": "Bearer",
        "expires_at": NOW + 60,
        "refresh_token": "rt",
        "scope": "a b",
        "issued_at": NOW,
        "origin": "o1",
        "captured": {},
    }
    assert Token.from_dict(json.loads(json.dumps(data))) == token


def test_from_dict_minimal_and_defaults():
    token = Token.from_dict({"access_token": "at", "expires_at": "12.5", "refresh_token": "", "scope": ""})
    assert token == Token(access_token="at", expires_at=12.5)
    assert Token.from_dict(Token(access_token="x").to_dict()) == Token(access_token="x")


def test_from_dict_requires_access_token():
    with pytest.raises(KeyError):
        Token.from_dict({"token_type": "Bearer"})


def test_repr_hides_tokens():
    token = Token(access_token="AT-SECRET-1", refresh_token="RT-SECRET-2", scope="read", expires_at=NOW)
    text = repr(token)
    assert "AT-SECRET-1" not in text
    assert "RT-SECRET-2" not in text
    assert "read" in text


def test_token_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Token(access_token="at").access_token = "other"  # type: ignore[misc]


# --- the refresh token's stated lifetime ---------------------------------------------------------------------
DAY = 86400.0


@pytest.mark.parametrize("field", ["refresh_token_expires_in", "x_refresh_token_expires_in"])
def test_the_refresh_token_lifetime_is_kept_as_its_expiry(field: str) -> None:
    token = from_payload({"access_token": "at", "refresh_token": "rt", field: 90 * DAY})
    assert token.refresh_expires_at == NOW + 90 * DAY
    assert not token.refresh_expired(NOW + 90 * DAY - 1)
    assert token.refresh_expired(NOW + 90 * DAY)


def test_a_lifetime_given_as_text_is_read_too() -> None:  # GitHub's documented example sends a string
    token = from_payload({"access_token": "at", "refresh_token": "rt", "refresh_token_expires_in": "15811200"})
    assert token.refresh_expires_at == NOW + 15811200


@pytest.mark.parametrize("value", [None, 0, -5, "soon", True, float("nan")])
def test_no_usable_lifetime_is_an_unknown_expiry(value: object) -> None:
    token = from_payload({"access_token": "at", "refresh_token": "rt", "refresh_token_expires_in": value})
    assert token.refresh_expires_at is None
    assert not token.refresh_expired(NOW + 10_000 * DAY)


def test_a_lifetime_without_any_refresh_token_is_dropped() -> None:
    token = from_payload({"access_token": "at", "refresh_token_expires_in": 90 * DAY})
    assert (token.refresh_token, token.refresh_expires_at) == (None, None)


def _refreshed(payload: dict, *, previous_expiry: float | None) -> Token:
    return Token.from_payload(
        payload,
        now=NOW,
        default_lifetime=None,
        previous_refresh_token="rt-old",
        previous_refresh_expires_at=previous_expiry,
    )


def test_a_refresh_that_keeps_the_refresh_token_keeps_its_expiry() -> None:
    kept = _refreshed({"access_token": "at"}, previous_expiry=NOW + 5 * DAY)
    assert (kept.refresh_token, kept.refresh_expires_at) == ("rt-old", NOW + 5 * DAY)
    restated_same = _refreshed({"access_token": "at", "refresh_token": "rt-old"}, previous_expiry=NOW + 5 * DAY)
    assert restated_same.refresh_expires_at == NOW + 5 * DAY


def test_a_rotated_refresh_token_has_its_own_lifetime_or_an_unknown_one() -> None:
    stated = _refreshed(
        {"access_token": "at", "refresh_token": "rt-new", "refresh_token_expires_in": 90 * DAY},
        previous_expiry=NOW + 5 * DAY,
    )
    assert stated.refresh_expires_at == NOW + 90 * DAY
    unstated = _refreshed({"access_token": "at", "refresh_token": "rt-new"}, previous_expiry=NOW + 5 * DAY)
    assert (unstated.refresh_token, unstated.refresh_expires_at) == ("rt-new", None)


def test_a_refresh_restating_the_lifetime_of_the_kept_token_updates_it() -> None:  # LinkedIn: the time left
    token = _refreshed({"access_token": "at", "refresh_token_expires_in": 3 * DAY}, previous_expiry=NOW + 5 * DAY)
    assert (token.refresh_token, token.refresh_expires_at) == ("rt-old", NOW + 3 * DAY)


def test_the_response_map_says_where_the_refresh_lifetime_is() -> None:
    mapping = ResponseMap(refresh_token="data.rt", refresh_expires="data.rt_ttl")
    payload = {"access_token": "at", "data": {"rt": "rt", "rt_ttl": 600}, "refresh_token_expires_in": 1}
    token = Token.from_payload(payload, now=NOW, default_lifetime=None, mapping=mapping)
    assert (token.refresh_token, token.refresh_expires_at) == ("rt", NOW + 600)


def test_the_refresh_expiry_survives_the_stored_form_and_old_records_still_load() -> None:
    token = from_payload({"access_token": "at", "refresh_token": "rt", "refresh_token_expires_in": 60 * DAY})
    stored = json.loads(json.dumps(token.to_dict()))
    assert stored["refresh_expires_at"] == NOW + 60 * DAY
    assert Token.from_dict(stored) == token
    old = {k: v for k, v in stored.items() if k != "refresh_expires_at"}  # saved before the field existed
    assert Token.from_dict(old).refresh_expires_at is None
    assert "refresh_expires_at" not in from_payload({"access_token": "at"}).to_dict()


# --- parse_token_body ---------------------------------------------------------------------------------------


def test_parse_json():
    body = json.dumps({"access_token": "at", "expires_in": 60, "token_type": "bearer"}).encode()
    assert parse_token_body(body, JSON, 200) == {"access_token": "at", "expires_in": 60, "token_type": "bearer"}


def test_parse_json_with_whitespace_and_odd_content_type():
    assert parse_token_body(b'\n  {"access_token": "at"}  \n', "text/plain", 200) == {"access_token": "at"}


@pytest.mark.parametrize("content_type", [FORM, "text/plain", ""])
def test_parse_form_encoded(content_type):
    body = b"access_token=at%2B1&token_type=bearer&expires_in=3600&scope=a+b"
    payload = parse_token_body(body, content_type, 200)
    assert payload == {"access_token": "at+1", "token_type": "bearer", "expires_in": "3600", "scope": "a b"}
    token = Token.from_payload(payload, now=NOW, default_lifetime=None)
    assert token.expires_at == NOW + 3600
    assert token.token_type == "Bearer"


@pytest.mark.parametrize(
    ("error", "cls", "permanent"),
    [
        ("invalid_client", InvalidClientError, True),
        ("invalid_grant", InvalidGrantError, True),
        ("unauthorized_client", UnauthorizedClientError, True),
        ("unsupported_grant_type", UnauthorizedClientError, True),
        ("invalid_scope", InvalidScopeError, True),
        ("invalid_request", TokenEndpointError, False),
        ("slow_down", TokenEndpointError, False),
    ],
)
@pytest.mark.parametrize("encoding", ["json", "form"])
def test_oauth_error_maps_to_subclass(error, cls, permanent, encoding):
    if encoding == "json":
        body = json.dumps({"error": error, "error_description": "It went\n wrong"}).encode()
        content_type = JSON
    else:
        body = f"error={error}&error_description=It+went+wrong".encode()
        content_type = FORM
    with pytest.raises(TokenEndpointError) as info:
        parse_token_body(body, content_type, 400)
    exc = info.value
    assert type(exc) is cls
    assert exc.error == error
    assert exc.description == "It went wrong"
    assert exc.http_status == 400
    assert exc.permanent is permanent
    assert f"error {error!r} (HTTP 400): It went wrong" in str(exc)


def test_oauth_error_even_with_200():
    with pytest.raises(InvalidGrantError) as info:
        parse_token_body(b'{"error": "invalid_grant"}', JSON, 200)
    assert info.value.description is None


def test_oauth_error_description_not_text_is_dropped():
    with pytest.raises(InvalidClientError) as info:
        parse_token_body(b'{"error": "invalid_client", "error_description": {"x": 1}}', JSON, 401)
    assert info.value.description is None


def test_oauth_error_long_description_is_cut():
    body = json.dumps({"error": "invalid_request", "error_description": "word " * 500}).encode()
    with pytest.raises(TokenEndpointError) as info:
        parse_token_body(body, JSON, 400)
    assert info.value.description is not None
    assert len(info.value.description) <= 243
    assert info.value.description.endswith("...")


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"<!DOCTYPE html>\n<HTML lang='en'><body>Login</body></HTML>",
        b"  <html>",
    ],
)
@pytest.mark.parametrize("status", [200, 502])
def test_html_page(body, status):
    with pytest.raises(TokenResponseError) as info:
        parse_token_body(body, "text/html; charset=utf-8", status)
    assert "HTML" in str(info.value)
    assert f"HTTP {status}" in str(info.value)
    assert "text/html" in str(info.value)
    assert info.value.http_status == status


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xff\xfe\x00garbage", JSON),
        (b"\xc3\x28", FORM),
        (b"", JSON),
        (b"", ""),
        (b"   ", FORM),
        (b"not a token", "text/plain"),
        (b"[1, 2, 3]", JSON),
        (b'"at"', JSON),
        (b"{broken json", JSON),
        (b"access_token=at", JSON),
        (b"foo=bar&baz=1", FORM),
        (b"a&b", FORM),
        (b"<xml/>", "application/xml"),
        (b"{" * 100_000, JSON),
    ],
)
def test_junk_bodies(body, content_type):
    with pytest.raises(TokenResponseError) as info:
        parse_token_body(body, content_type, 200)
    assert "neither JSON nor form data" in str(info.value)
    assert "check the access-token URL" in str(info.value)


def test_junk_body_with_unknown_content_type_mentions_unknown():
    with pytest.raises(TokenResponseError, match="content type 'unknown'"):
        parse_token_body(b"\x00\x01", "", 500)


def test_200_without_access_token_is_rejected_by_from_payload():
    payload = parse_token_body(b'{"token_type": "bearer", "expires_in": 60}', JSON, 200)
    with pytest.raises(TokenResponseError, match="no 'access_token'"):
        Token.from_payload(payload, now=NOW, default_lifetime=None)


@pytest.mark.parametrize("status", [400, 401, 500, 503])
def test_error_status_with_json_but_no_error_code(status):
    with pytest.raises(TokenResponseError) as info:
        parse_token_body(b'{"message": "internal error"}', JSON, status)
    assert not isinstance(info.value, TokenEndpointError)
    assert info.value.http_status == status
    assert f"HTTP {status} without an OAuth error code" in str(info.value)


def test_error_status_with_access_token_still_rejected():
    with pytest.raises(TokenResponseError):
        parse_token_body(b'{"access_token": "at"}', JSON, 500)


def test_huge_integer_expires_in_from_server_is_ignored():
    body = b'{"access_token": "at", "expires_in": ' + b"9" * 400 + b"}"
    payload = parse_token_body(body, JSON, 200)
    assert from_payload(payload, default=60).expires_at == NOW + 60
