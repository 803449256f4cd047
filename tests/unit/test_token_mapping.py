"""Token response mapping: dotted paths, expiry formats, captured fields, errors inside a 2xx answer."""

from __future__ import annotations

import json

import pytest

from airflow_oauth_connector.exceptions import (
    InvalidClientError,
    InvalidGrantError,
    ProfileError,
    TokenEndpointError,
    TokenResponseError,
)
from airflow_oauth_connector.profile import ExpiresFormat, ResponseMap
from airflow_oauth_connector.token import Token, lookup, parse_token_body
from tests.support.builders import make_profile

NOW = 1_700_000_000.0


def test_dotted_paths_read_a_nested_user_token():
    payload = {
        "ok": True,
        "access_token": "xoxb-bot",
        "authed_user": {"access_token": "xoxp-user", "expires_in": 43200},
    }
    mapping = ResponseMap(access_token="authed_user.access_token", expires="authed_user.expires_in")
    token = Token.from_payload(payload, now=NOW, default_lifetime=None, mapping=mapping)
    assert token.access_token == "xoxp-user"
    assert token.expires_at == NOW + 43200


def test_lookup_indexes_lists():
    assert lookup([{"tenantId": "t-1"}], "0.tenantId") == "t-1"
    assert lookup({"a": [1]}, "a.3") is None
    assert lookup({"a": "x"}, "a.b") is None


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        (ExpiresFormat.SECONDS, "3600", 3600),
        (ExpiresFormat.EPOCH, NOW + 120, 120),
        (ExpiresFormat.EPOCH_MS, (NOW + 90) * 1000, 90),
        (ExpiresFormat.TIMESTAMP, "2023-11-14T22:15:20Z", 1_700_000_120 - NOW),
        (ExpiresFormat.TIMESTAMP, "2023-11-14T22:13:20", 0),
    ],
)
def test_expiry_formats(fmt, value, expected):
    mapping = ResponseMap(expires="expires", expires_format=fmt)
    token = Token.from_payload({"access_token": "a", "expires": value}, now=NOW, default_lifetime=None, mapping=mapping)
    assert token.expires_at == pytest.approx(NOW + expected)


def test_fixed_lifetime_ignores_the_response():
    profile = make_profile(expires_format="fixed", default_expires_in=7200)
    payload = {"access_token": "a", "expires_in": 5}
    token = Token.from_payload(payload, now=NOW, default_lifetime=profile.default_expires_in, mapping=profile.response)
    assert token.expires_at == NOW + 7200


def test_fixed_lifetime_needs_the_lifetime():
    with pytest.raises(ProfileError) as info:
        make_profile(expires_format="fixed")
    assert info.value.field == "default_expires_in"


def test_captured_fields_and_their_carry_over():
    mapping = ResponseMap(capture={"instance_url": "instance_url", "api_domain": "api_domain"})
    first = Token.from_payload(
        {"access_token": "a", "instance_url": "https://acme.my.salesforce.com"},
        now=NOW,
        default_lifetime=None,
        mapping=mapping,
        previous_captured={"realmId": "123"},
    )
    assert dict(first.captured) == {"realmId": "123", "instance_url": "https://acme.my.salesforce.com"}
    assert Token.from_dict(json.loads(json.dumps(first.to_dict()))).captured == first.captured


def test_missing_access_token_names_the_path():
    with pytest.raises(TokenResponseError, match=r"authed_user\.access_token"):
        Token.from_payload(
            {"ok": True}, now=NOW, default_lifetime=None, mapping=ResponseMap("authed_user.access_token")
        )


def test_error_inside_a_2xx_json_body_is_typed():
    body = b'{"ok": false, "error": "invalid_refresh_token"}'
    with pytest.raises(InvalidGrantError) as info:
        parse_token_body(body, "application/json", 200, {"invalid_refresh_token": "invalid_grant"})
    assert info.value.http_status == 200
    with pytest.raises(TokenEndpointError) as plain:
        parse_token_body(body, "application/json", 200)
    assert plain.value.error == "invalid_refresh_token"


def test_error_inside_a_2xx_form_body_is_typed():
    with pytest.raises(InvalidClientError):
        parse_token_body(b"error=invalid_client&error_description=bad+secret", "text/plain", 200)


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"error": "invalid_client", "reason": "Invalid client_id or client_secret"}, "Invalid client_id"),
        ({"error": {"code": "invalid_grant", "message": "code expired"}}, "code expired"),
        ({"error": "invalid_grant", "errors": [{"message": "token revoked"}]}, "token revoked"),
    ],
)
def test_non_standard_error_details_reach_the_message(payload, detail):
    with pytest.raises(TokenEndpointError, match=detail):
        parse_token_body(json.dumps(payload).encode(), "application/json", 400)


def test_provider_status_codes_map_to_oauth_errors():
    body = json.dumps({"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"}).encode()
    with pytest.raises(InvalidGrantError, match="unknown refresh token"):
        parse_token_body(body, "application/json", 400, {"BAD_REFRESH_TOKEN": "invalid_grant"})


def test_http_error_without_code_still_shows_the_detail():
    with pytest.raises(TokenResponseError, match="quota exceeded"):
        parse_token_body(b'{"message": "quota exceeded"}', "application/json", 403)


def test_response_map_says_where_the_refresh_token_lifetime_is():
    assert make_profile().response.refresh_expires == "refresh_token_expires_in|x_refresh_token_expires_in"
    profile = make_profile(response_map={"refresh_expires": "data.refresh_ttl"})
    assert profile.response.refresh_expires == "data.refresh_ttl"


def test_response_map_rejects_unknown_keys():
    with pytest.raises(ProfileError) as info:
        make_profile(response_map={"acces_token": "x"})
    assert info.value.field == "response_map"
