"""The client-credentials grant's token request parameters (RFC 6749 4.4)."""

from __future__ import annotations

from airflow_oauth_connector.grants import client_credentials_params
from tests.support.builders import make_profile


def test_client_credentials_params():
    assert client_credentials_params(make_profile()) == {"grant_type": "client_credentials"}
    assert client_credentials_params(make_profile({"scope": "a,b"})) == {
        "grant_type": "client_credentials",
        "scope": "a b",
    }


def test_client_credentials_params_carry_no_client_secret():
    params = client_credentials_params(make_profile({"scope": "read"}))
    assert set(params) == {"grant_type", "scope"}  # the client authenticates by its auth method, not in the grant
