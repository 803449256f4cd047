"""The hook fills {placeholders} of the base URL and API headers from values captured with the grant."""

from __future__ import annotations

import json

import pytest
import requests

from airflow_oauth_connector.exceptions import CapturedValueMissingError
from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.store import MemoryTokenStore
from airflow_oauth_connector.token import Token


@pytest.fixture
def conn(monkeypatch):
    def make(extra: dict, host: str | None = None) -> str:
        from airflow.models import Connection

        c = Connection(
            conn_id="ph", conn_type="oauth_connector", host=host, login="id", password="secret", extra=json.dumps(extra)
        )
        monkeypatch.setenv("AIRFLOW_CONN_PH", c.as_json())
        return "ph"

    return make


def _hook_with(token: Token, conn_id: str) -> OAuthConnectorHook:
    store = MemoryTokenStore()
    hook = OAuthConnectorHook(conn_id, token_store=store)
    store.save(hook.profile.cache_key, token)
    return hook


def test_base_url_and_headers_come_from_captured_values(conn):
    conn_id = conn({"provider": "xero", "refresh_token": "rt-0"})
    token = Token(access_token="at", expires_at=None, refresh_token="rt-0", captured={"tenant_id": "t-42"})
    hook = _hook_with(token, conn_id)
    hook.tokens._origin = None  # the stored token belongs to the connection's grant
    assert hook.base_url == "https://api.xero.com/api.xro/2.0"
    sent = hook.session.prepare_request(requests.Request("GET", hook.url_for("Invoices")))  # the flow attaches
    assert sent.headers["Xero-Tenant-Id"] == "t-42"
    assert sent.headers["Authorization"] == "Bearer at"
    other = hook.session.prepare_request(requests.Request("GET", "https://elsewhere.example.com/x"))
    assert "Xero-Tenant-Id" not in other.headers  # API headers go to the API's origin only, like the token


def test_leading_placeholder_must_resolve_to_https(conn):
    conn_id = conn({"provider": "salesforce", "refresh_token": "rt-0"})
    hook = _hook_with(
        Token(access_token="at", refresh_token="rt-0", captured={"instance_url": "https://acme.my.salesforce.com"}),
        conn_id,
    )
    hook.tokens._origin = None
    assert hook.url_for("sobjects") == "https://acme.my.salesforce.com/services/data/v62.0/sobjects"


def test_values_saved_in_the_connection_at_authorization_serve_too(conn):
    conn_id = conn({"provider": "quickbooks", "refresh_token": "rt-0", "captured": {"realmId": "9130"}})
    hook = _hook_with(Token(access_token="at", refresh_token="rt-0"), conn_id)
    hook.tokens._origin = None
    assert hook.base_url == "https://quickbooks.api.intuit.com/v3/company/9130"


def test_a_grant_from_before_presets_is_told_to_authorize_again(conn):
    conn_id = conn({"provider": "quickbooks", "refresh_token": "rt-0"})
    hook = _hook_with(Token(access_token="at", refresh_token="rt-0"), conn_id)
    hook.tokens._origin = None
    with pytest.raises(CapturedValueMissingError, match="authorize again"):
        hook.url_for("companyinfo/1")
