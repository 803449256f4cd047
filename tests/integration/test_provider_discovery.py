"""The provider as a real Airflow installation (3.1, 3.2 or 3.3) sees it: CLI discovery, the UI form metadata served
by a real ``airflow api-server``, secret masking in the REST API, and the connection test button.

One AIRFLOW_HOME (SQLite, ``airflow db migrate`` once) and one api-server serve the whole module.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_oauth_connector.connection_form import widget_description
from airflow_oauth_connector.fields import BY_NAME, FORM_FIELDS, conn_fields, ui_field_behaviour
from tests.support.airflow_server import ApiServer, migrate_db, run_airflow_json, start_api_server

#: What get_provider_info() declares for the connection form (built when asked, not at import).
CONN_FIELDS = conn_fields()
UI_FIELD_BEHAVIOUR = ui_field_behaviour()

# an Airflow api-server starts in the first test: longer than the default per-test timeout
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

PACKAGE = "airflow-oauth-connector"
CONN_TYPE = "oauth_connector"
HOOK_CLASS = "airflow_oauth_connector.hooks.oauth.OAuthConnectorHook"
HOOK_NAME = "OAuth 2.0 API"
MASK = "***"
AIRFLOW_LINE = tuple(int(part) for part in version("apache-airflow-core").split(".")[:2])
FORM_FROM_HOOK_WIDGETS = AIRFLOW_LINE < (3, 2)
"""Airflow 3.1 builds the form from the hook's get_connection_form_widgets (3.2+: conn-fields)."""

# Unique per run, long enough for the secrets masker, and unlike anything else in a response.
CLIENT_SECRET = "cs-" + secrets.token_hex(16)
REFRESH_TOKEN = "rt-" + secrets.token_hex(16)

# Extras that are *not* secrets: Airflow must return them as stored.
READABLE_EXTRAS: dict[str, Any] = {
    "grant_type": "authorization_code",
    "access_url": "https://auth.example.com/oauth/token",
    "authorize_url": "https://auth.example.com/oauth/authorize",
    "issuer_url": "https://auth.example.com",
    "redirect_uri": "http://localhost:8080/oauth/callback",
    "scope": "read write offline_access",
    "client_auth": "body",
    "access_params": json.dumps({"body": {"audience": "https://api.example.com"}}),
    "authorize_params": json.dumps({"access_type": "offline", "prompt": "consent"}),
    "pkce": True,
    "store_backend": "redis",
    "device_url": "https://auth.example.com/oauth/device",
}


# ------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow_home")
    migrate_db(home)
    return home


@pytest.fixture(scope="module")
def api_server(airflow_home: Path) -> Iterator[ApiServer]:
    server = start_api_server(airflow_home, env={"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"})
    try:
        yield server
    finally:
        server.stop()
    assert not server.is_running()


@pytest.fixture(scope="module")
def api(api_server: ApiServer) -> Iterator[requests.Session]:
    with api_server.session() as session:
        yield session


@pytest.fixture(scope="module")
def hook_meta(api_server: ApiServer, api: requests.Session) -> dict[str, Any]:
    resp = api.get(api_server.url("/ui/connections/hook_meta"), timeout=60)
    assert resp.status_code == 200, resp.text[:500]
    entries = [e for e in resp.json() if e["connection_type"] == CONN_TYPE]
    assert len(entries) == 1, f"{CONN_TYPE} not (or more than once) in hook_meta"
    return entries[0]


# --------------------------------------------------------------------------------------------- 1. the CLI
def test_providers_list_shows_package_with_version(airflow_home: Path) -> None:
    providers = run_airflow_json(airflow_home, "providers", "list")
    ours = [p for p in providers if p["package_name"] == PACKAGE]
    assert len(ours) == 1, f"{PACKAGE} missing from `airflow providers list`: {[p['package_name'] for p in providers]}"
    assert ours[0]["version"] == version(PACKAGE)
    assert "OAuth 2.0" in ours[0]["description"]


def test_providers_hooks_lists_connection_type(airflow_home: Path) -> None:
    hooks = run_airflow_json(airflow_home, "providers", "hooks")
    ours = [h for h in hooks if h["connection_type"] == CONN_TYPE]
    assert ours == [
        {
            "connection_type": CONN_TYPE,
            "class": HOOK_CLASS,
            "conn_id_attribute_name": "oauth_conn_id",
            "package_name": PACKAGE,
            "hook_name": HOOK_NAME,
        }
    ]


# -------------------------------------------------------------------------------------- 2. the UI form
def test_api_requires_a_token(api_server: ApiServer) -> None:
    resp = requests.get(api_server.url("/ui/connections/hook_meta"), timeout=30)
    assert resp.status_code == 401


def test_hook_meta_identifies_hook(hook_meta: dict[str, Any]) -> None:
    assert hook_meta["hook_name"] == HOOK_NAME
    assert hook_meta["hook_class_name"] == HOOK_CLASS


def test_hook_meta_standard_fields(hook_meta: dict[str, Any]) -> None:
    std = hook_meta["standard_fields"]
    assert std["url_schema"]["hidden"] is True
    assert std["port"]["hidden"] is True
    placeholders = UI_FIELD_BEHAVIOUR["placeholders"]
    titles = {"host": "API base URL (required)", "login": "Client ID (required except for JWT bearer)"}
    for name, title in {**titles, "password": "Client secret (required)"}.items():
        assert std[name] == {"hidden": False, "title": title, "placeholder": placeholders[name]}, name
    assert std["description"] is None  # not customised: the standard field


# field -> (type, format, enum) expected in the rendered JSON schema (Airflow 3.2+). A type without "null" is
# what the React form marks required (Save stays disabled while it is empty); "object" is its JSON editor,
# which refuses invalid JSON.
_STRING, _OBJECT, _BOOL = ["string", "null"], ["object", "null"], ["boolean", "null"]
EXPECTED_WIDGETS: dict[str, tuple[str | list[str], str | None, list[str] | None]] = {
    "provider": ("string", None, list(CONN_FIELDS["provider"]["schema"]["enum"])),
    "grant_type": (
        "string",
        None,
        ["client_credentials", "authorization_code", "jwt_bearer", "custom", "password", "token_exchange"],
    ),
    "provider_params": (_OBJECT, None, None),
    "access_url": (_STRING, "url", None),
    "scope": (_STRING, None, None),
    "client_auth": (
        _STRING,
        None,
        ["header", "body", "none", "private_key_jwt", "client_secret_jwt", "client_assertion_file"],
    ),
    "issuer_url": (_STRING, "url", None),
    "authorize_url": (_STRING, "url", None),
    "redirect_uri": (_STRING, "url", None),
    "pkce": (_BOOL, None, None),
    "authorize_params": (_OBJECT, None, None),
    "refresh_token": (_STRING, "password", None),
    "device_url": (_STRING, "url", None),
    "par": (_BOOL, None, None),
    "capture_callback": (_STRING, None, None),
    "code_param": (_STRING, None, None),
    "post_authorize": (_OBJECT, None, None),
    "custom_grant_type": (_STRING, None, None),
    "grant_params": (_OBJECT, None, None),
    "username": (_STRING, None, None),
    "user_password": (_STRING, "password", None),
    "jwt_subject": (_STRING, None, None),
    "jwt_audience": (_STRING, None, None),
    "jwt_issuer": (_STRING, None, None),
    "subject_token_file": (_STRING, None, None),
    "subject_token_type": (_STRING, None, None),
    "requested_token_type": (_STRING, None, None),
    "audience": (_STRING, None, None),
    "access_params": (_OBJECT, None, None),
    "store_backend": (_STRING, None, ["file", "redis", "variables", "memory"]),
    "signing_alg": (_STRING, None, None),
    "key_id": (_STRING, None, None),
    "client_assertion_file": (_STRING, None, None),
    "resource": (_STRING, None, None),
    "dpop": (_BOOL, None, None),
    "access_body": (_STRING, None, ["form", "json"]),
    "access_method": (_STRING, None, ["POST", "GET"]),
    "refresh_url": (_STRING, "url", None),
    "response_map": (_OBJECT, None, None),
    "expires_format": (_STRING, None, ["seconds", "epoch", "epoch_ms", "timestamp", "fixed"]),
    "capture_response": (_OBJECT, None, None),
    "api_headers": (_OBJECT, None, None),
    "header_name": (_STRING, None, None),
    "header_prefix": (_STRING, None, None),
    "renew_on": (_OBJECT, None, None),
    "jwt_key_passphrase": (_STRING, "password", None),
}


def test_hook_meta_extra_fields_are_all_present(hook_meta: dict[str, Any]) -> None:
    assert set(EXPECTED_WIDGETS) == set(CONN_FIELDS), "EXPECTED_WIDGETS is out of date"
    assert set(hook_meta["extra_fields"]) == set(CONN_FIELDS)


@pytest.mark.parametrize("name", sorted(EXPECTED_WIDGETS))
def test_hook_meta_extra_field_widget(hook_meta: dict[str, Any], name: str) -> None:
    declared = CONN_FIELDS[name]
    spec = BY_NAME[name]
    rendered = hook_meta["extra_fields"][name]
    schema = rendered["schema"]
    expected_type, expected_format, expected_enum = EXPECTED_WIDGETS[name]
    assert schema["title"] == (spec.form_label if FORM_FROM_HOOK_WIDGETS else declared["label"])
    assert schema.get("enum") == expected_enum
    # The form starts from the declared default (grant_type, client_auth, pkce), else empty.
    assert rendered["value"] == declared["schema"].get("default")
    if FORM_FROM_HOOK_WIDGETS:
        # Airflow 3.1's WTForms-based form: text, password, boolean; no formats, sections or value labels, so
        # a choice field's description lists its values.
        assert rendered["description"] == widget_description(spec)
        assert schema["type"] == (["boolean", "null"] if expected_type == ["boolean", "null"] else ["string", "null"])
        assert schema.get("format") == (expected_format if expected_format == "password" else None)
        return
    assert rendered["description"] == declared["description"] == spec.form_description
    assert schema["type"] == expected_type
    assert schema.get("format") == expected_format
    assert schema["section"] == spec.section  # folding sections: essentials, authorization code, ...
    if spec.options and any(value != label for value, label in spec.options):
        assert schema["values_display"] == {value: label for value, label in spec.options if value != label}


def test_hook_meta_fields_come_in_form_order(hook_meta: dict[str, Any]) -> None:
    assert list(hook_meta["extra_fields"]) == [spec.name for spec in FORM_FIELDS]


# ------------------------------------------------------------------------------------- 3. secret masking
@pytest.fixture(scope="module")
def stored_connection(api_server: ApiServer, api: requests.Session) -> dict[str, Any]:
    body = {
        "connection_id": "oauth_it_masking",
        "conn_type": CONN_TYPE,
        "description": "integration test",
        "host": "https://api.example.com/v1",
        "login": "my-client-id",
        "password": CLIENT_SECRET,
        "extra": json.dumps({**READABLE_EXTRAS, "refresh_token": REFRESH_TOKEN}),
    }
    resp = api.post(api_server.url("/api/v2/connections"), json=body, timeout=30)
    assert resp.status_code == 201, resp.text[:500]
    _assert_masked(resp)
    return body


def _assert_masked(resp: requests.Response) -> dict[str, Any]:
    assert CLIENT_SECRET not in resp.text
    assert REFRESH_TOKEN not in resp.text
    conn = resp.json()
    assert conn["password"] == MASK
    extra = json.loads(conn["extra"])
    assert extra["refresh_token"] == MASK
    assert {k: extra[k] for k in READABLE_EXTRAS} == READABLE_EXTRAS
    return conn


def test_get_connection_masks_secrets_only(
    api_server: ApiServer, api: requests.Session, stored_connection: dict[str, Any]
) -> None:
    conn_id = stored_connection["connection_id"]
    resp = api.get(api_server.url(f"/api/v2/connections/{conn_id}"), timeout=30)
    assert resp.status_code == 200, resp.text[:500]
    conn = _assert_masked(resp)
    assert conn["conn_type"] == CONN_TYPE
    assert conn["host"] == stored_connection["host"]
    assert conn["login"] == stored_connection["login"]  # the client ID is not a secret


def test_list_connections_masks_secrets_only(
    api_server: ApiServer, api: requests.Session, stored_connection: dict[str, Any]
) -> None:
    resp = api.get(api_server.url("/api/v2/connections"), timeout=30)
    assert resp.status_code == 200, resp.text[:500]
    assert CLIENT_SECRET not in resp.text
    assert REFRESH_TOKEN not in resp.text
    ours = [c for c in resp.json()["connections"] if c["connection_id"] == stored_connection["connection_id"]]
    assert len(ours) == 1
    extra = json.loads(ours[0]["extra"])
    assert ours[0]["password"] == MASK
    assert extra["refresh_token"] == MASK
    assert extra["access_url"] == READABLE_EXTRAS["access_url"]


# ------------------------------------------------------------------------------ 4. the "Test" button
def test_connection_test_with_unreachable_token_endpoint(api_server: ApiServer, api: requests.Session) -> None:
    body = {
        "connection_id": "oauth_it_unreachable",
        "conn_type": CONN_TYPE,
        "host": "http://127.0.0.1:9/api",
        "login": "my-client-id",
        "password": CLIENT_SECRET,
        "extra": json.dumps(
            {
                "grant_type": "client_credentials",
                "access_url": "http://127.0.0.1:9/token",  # discard port: connection refused
                "client_auth": "body",
                "refresh_token": REFRESH_TOKEN,
                "retry_max_attempts": 2,
            }
        ),
    }
    resp = api.post(api_server.url("/api/v2/connections/test"), json=body, timeout=120)
    assert resp.status_code == 200, resp.text[:500]
    result = resp.json()
    assert result["status"] is False
    message = result["message"]
    assert "127.0.0.1" in message, message  # it is about the token endpoint that failed
    assert CLIENT_SECRET not in message
    assert REFRESH_TOKEN not in message
    # Nor anywhere in what the server logged while testing.
    log = api_server.log_text()
    assert CLIENT_SECRET not in log
    assert REFRESH_TOKEN not in log
