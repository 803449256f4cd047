"""Token request shapes: JSON body, GET with a query, a separate refresh URL, password and custom grants."""

from __future__ import annotations

import json

import pytest

from airflow_oauth_connector.exceptions import ProfileError
from tests.support.builders import CLIENT_SECRET, TOKEN_URL, make_client, make_profile
from tests.support.fake_http import FakeTransport, TokenServer, form, query

REFRESH_URL = "https://auth.example.com/oauth/refresh"


def _json_server(request):
    body = json.loads(request.body)
    return 200, {}, {"access_token": f"json-{body['grant_type']}", "expires_in": 60}


def test_json_body_carries_grant_client_auth_and_token_parameters():
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, _json_server)
    profile = make_profile(access_body="json", client_auth="body", access_params={"body": {"audience": "a"}})
    token = make_client(profile, transport).client_credentials()
    sent = transport.requests[0]
    assert token.access_token == "json-client_credentials"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {
        "audience": "a",
        "grant_type": "client_credentials",
        "client_id": "client-1",
        "client_secret": CLIENT_SECRET,
    }


def test_get_token_endpoint_sends_parameters_in_the_query():
    transport = FakeTransport()
    transport.route("GET", TOKEN_URL, lambda r: (200, {}, {"access_token": "got", "expires_in": 10}))
    profile = make_profile(access_method="GET", client_auth="body")
    assert make_client(profile, transport).client_credentials().access_token == "got"
    sent = transport.requests[0]
    assert sent.method == "GET"
    assert sent.body is None
    assert query(sent) == {"grant_type": "client_credentials", "client_id": "client-1", "client_secret": CLIENT_SECRET}


def test_refresh_goes_to_the_refresh_url_and_keeps_the_refresh_token_when_none_is_returned():
    transport = FakeTransport()
    transport.route("POST", REFRESH_URL, lambda r: (200, {}, {"access_token": "fresh", "expires_in": 10}))
    profile = make_profile(grant_type="client_credentials", refresh_url=REFRESH_URL)
    token = make_client(profile, transport).refresh("refresh-0")
    assert transport.requests[0].url == REFRESH_URL
    assert token.refresh_token == "refresh-0"


def test_password_grant_is_legacy_but_works():
    transport = FakeTransport()
    server = TokenServer()
    transport.route("POST", TOKEN_URL, server)
    profile = make_profile(grant_type="password", username="ann", user_password="pw-123", scope="read")
    token = make_client(profile, transport).obtain_without_person()
    assert form(transport.requests[0]) == {
        "grant_type": "password",
        "username": "ann",
        "password": "pw-123",
        "scope": "read",
    }
    assert token.refresh_token == "refresh-1"
    assert "pw-123" not in repr(profile)


def test_password_grant_names_the_missing_field():
    with pytest.raises(ProfileError) as info:
        make_profile(grant_type="password", username="ann")
    assert info.value.field == "user_password"


def test_custom_grant_sends_its_type_and_parameters():
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, lambda r: (200, {}, {"access_token": "zoom", "expires_in": 3600}))
    profile = make_profile(
        grant_type="custom", custom_grant_type="account_credentials", grant_params={"account_id": "A1"}
    )
    make_client(profile, transport).obtain_without_person()
    assert form(transport.requests[0]) == {"grant_type": "account_credentials", "account_id": "A1"}


def test_custom_grant_needs_its_type():
    with pytest.raises(ProfileError) as info:
        make_profile(grant_type="custom")
    assert info.value.field == "custom_grant_type"
