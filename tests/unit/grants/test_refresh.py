"""The refresh-token grant's token request parameters (RFC 6749 6)."""

from __future__ import annotations

from airflow_oauth_connector.grants import refresh_token_params


def test_refresh_token_params():
    assert refresh_token_params("rt") == {"grant_type": "refresh_token", "refresh_token": "rt"}
    assert refresh_token_params("rt", "read") == {"grant_type": "refresh_token", "refresh_token": "rt", "scope": "read"}


def test_an_empty_scope_is_not_sent():
    assert refresh_token_params("rt", "") == {"grant_type": "refresh_token", "refresh_token": "rt"}
