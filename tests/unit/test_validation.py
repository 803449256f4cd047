from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_oauth_connector.exceptions import ConnectionSettingsError, ProfileError
from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.presets import apply_preset
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.validation import FieldProblem, check_connection, require_valid, settings_error
from tests.support.builders import set_connection

API = "https://api.example.com/v1"
TOKEN = "https://auth.example.com/oauth/token"
AUTHORIZE = "https://auth.example.com/oauth/authorize"
#: Missing a separator at character 48 (json.JSONDecodeError.pos).
BROKEN_AT_48 = '{"body": {"audience": "https://api.example.co"} "query": {}}'


def problems(extra: dict[str, Any] | str | None = None, **standard: Any) -> list[FieldProblem]:
    fields = {"host": API, "login": "client-id", "password": "s3cret", **standard}
    if isinstance(extra, dict):
        extra = {"access_url": TOKEN, **extra}
    return check_connection(extra=extra, **fields)


def texts(extra: dict[str, Any] | str | None = None, **standard: Any) -> list[str]:
    return [str(problem) for problem in problems(extra, **standard)]


# ------------------------------------------------------------------------------------------ accepted
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"grant_type": "client_credentials", "scope": "read", "access_params": {"body": {"audience": API}}},
        {"access_params": json.dumps({"query": {"a": "1"}, "headers": {"X-Tenant": "t"}})},  # JSON text, as stored
        {"access_params": {"body": {"audience": API}, "exchange": {"body": {"expiring": "1"}}, "refresh": {}}},
        {"provider": "shopify", "provider_params": {"shop": "acme.myshopify.com"}, "access_url": None},
        {"grant_type": "authorization_code", "authorize_url": AUTHORIZE, "redirect_uri": "http://localhost:8080/cb"},
        {"grant_type": "authorization_code", "issuer_url": "https://auth.example.com", "access_url": None},
        {"access_url": "http://127.0.0.1:8000/token"},  # plain http on loopback
        {"access_url": "http://auth.internal/token", "allow_insecure_http": True},
        {"provider": "microsoft", "provider_params": {"tenant": "contoso.onmicrosoft.com"}, "access_url": None},
        {"provider": "custom", "pkce": "true", "timeout": "12.5", "retry_max_attempts": 3},
    ],
)
def test_valid_settings_have_no_problem(extra):
    host = None if extra.get("provider") in ("microsoft", "shopify") else API
    assert problems(extra, host=host) == []
    OAuthProfile.from_fields("c", host=host, login="client-id", password="s3cret", extra=extra_with(extra))


def extra_with(extra: dict[str, Any]) -> dict[str, Any]:
    return {"access_url": TOKEN, **extra}


# ---------------------------------------------------------------------------------- each problem kind
def test_json_field_names_label_key_and_position():
    assert texts({"access_params": BROKEN_AT_48}) == [
        "Token parameters (access_params): not valid JSON near character 48"
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('["a"]', "Token parameters (access_params): expected a JSON object, got list"),
        (
            {"query": {"a": {"nested": 1}}},
            "Token parameters (access_params.query): value of 'a' must be a string, number or boolean",
        ),
        (
            {"bodyy": {}},
            "Token parameters (access_params): unknown part(s) bodyy; expected an object with 'query', 'headers', "
            "'body'",
        ),
        ({"headers": {"bad header": "x"}}, "Token parameters (access_params.headers): 'bad header' is not a valid"),
        (
            {"exchange": {"body": {"expiring": ["1"]}}},
            "Token parameters (access_params.exchange.body): value of 'expiring' must be a string, number or boolean",
        ),
        (
            {"refresh": {"bodyy": {}}},
            "Token parameters (access_params.refresh): unknown part(s) bodyy; expected 'query', 'headers', 'body'",
        ),
        (
            {"grant": "expiring=1"},
            "Token parameters (access_params.grant): expected a JSON object with 'query', 'headers', 'body', got str",
        ),
        (
            {"exchnage": {}},
            "Token parameters (access_params): unknown part(s) exchnage; expected an object with 'query', 'headers', "
            "'body' and, for one kind of token request only, 'exchange', 'refresh' or 'grant'",
        ),
    ],
)
def test_access_params_shape(value, expected):
    (text,) = texts({"access_params": value})
    assert text.startswith(expected)


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("authorize_params", "Auth parameters"),
        ("grant_params", "Grant parameters"),
        ("api_headers", "API headers"),
        ("capture_response", "Captured response fields"),
        ("provider_params", "Provider parameters"),
    ],
)
def test_every_json_field_is_parsed(name, label):
    assert texts({name: "{oops"}) == [f"{label} ({name}): not valid JSON near character 1"]


def test_http_token_url_on_a_public_host():
    assert texts({"access_url": "http://auth.example.com/token"}) == [
        "Access token URL (access_url): must use https (plain http is only accepted for loopback hosts, or with "
        "'allow_insecure_http')"
    ]


@pytest.mark.parametrize("name", ["access_url", "authorize_url", "issuer_url", "refresh_url", "device_url"])
def test_urls_must_be_absolute(name):
    (problem,) = problems({"grant_type": "authorization_code", "authorize_url": AUTHORIZE, name: "auth.example.com/x"})
    assert problem.field == name
    assert problem.message.startswith("expected an absolute http(s) URL")


def test_api_base_url_is_checked_as_well():
    assert texts({}, host="http://api.example.com") == [
        "API base URL (host): must use https (plain http is only accepted for loopback hosts, or with "
        "'allow_insecure_http')"
    ]
    assert texts({}, host="") == ["API base URL (host): the API base URL is required, e.g. https://api.example.com/v1"]


def test_authorization_code_without_authorization_url():
    assert texts({"grant_type": "authorization_code"}) == [
        "Authorization URL (authorize_url): required for authorization code (or set Issuer URL for discovery, or "
        "pick a provider preset that gives it)"
    ]


def test_token_url_is_required_unless_issuer_or_preset():
    assert texts({"access_url": None}) == [
        "Access token URL (access_url): required (or set Issuer URL for discovery, or pick a provider preset that "
        "gives it)"
    ]
    assert problems({"access_url": None, "issuer_url": "https://auth.example.com"}) == []


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"grant_type": "custom"}, "custom_grant_type", "required for custom grant"),
        ({"grant_type": "password", "username": "u"}, "user_password", "required for password grant"),
        ({"grant_type": "token_exchange"}, "subject_token_file", "required for token exchange"),
    ],
)
def test_grant_specific_requirements(extra, field, message):
    assert [(p.field, p.message) for p in problems(extra)] == [(field, message)]


def test_client_secret_required_unless_public_client():
    (problem,) = problems({}, password="")
    assert str(problem) == (
        "Client secret (password): the client secret is required unless Client authentication is 'none' (public "
        "client) or 'client_assertion_file'"
    )
    assert problems({"client_auth": "none"}, password="") == []


def test_jwt_bearer_needs_the_key():
    assert texts({"grant_type": "jwt_bearer"}, password="") == [
        "Client secret (password): the JWT bearer grant needs the service account's private key here (PEM, or a "
        "JSON key file)"
    ]


def test_client_id_required():
    assert texts({}, login=" ") == ["Client ID (login): required for client credentials"]


@pytest.mark.parametrize(
    ("name", "value", "label"),
    [
        ("grant_type", "implicit", "Grant type"),
        ("client_auth", "nope", "Client authentication"),
        ("store_backend", "s3", "Token store"),
        ("access_body", "xml", "Token request body"),
        ("access_method", "PUT", "Token request method"),
        ("expires_format", "days", "Expiry format"),
    ],
)
def test_enum_values(name, value, label):
    (text,) = texts({name: value})
    assert text.startswith(f"{label} ({name}): unknown value {value!r}; expected one of: ")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("pkce", "maybe", "expected true or false"),
        ("timeout", "soon", "expected a number"),
        ("retry_max_attempts", 0, "expected a finite number of at least 1"),
        ("header_name", "X Token", "'X Token' is not a valid HTTP header name"),
        ("resource", "api", "'api' is not an absolute URI without a fragment (RFC 8707 2)"),
    ],
)
def test_typed_fields(name, value, message):
    assert [(p.field, p.message) for p in problems({name: value})] == [(name, message)]


def test_unknown_provider():
    (problem,) = problems({"provider": "myspace"})
    assert problem.field == "provider"
    assert problem.message.startswith("unknown provider 'myspace'; expected one of: custom, ")


def test_preset_without_its_provider_params():
    assert texts({"provider": "microsoft", "access_url": None}, host=None) == [
        "Provider parameters (provider_params): provider 'microsoft' needs the key 'tenant': the directory "
        "(tenant) ID or domain, e.g. contoso.onmicrosoft.com (common / organizations for multi-tenant apps with "
        "authorization_code)"
    ]


def test_preset_fields_are_checked_as_the_loader_would_use_them():
    # The preset gives token and authorization URLs and the base URL; the connection's own bad field still counts.
    extra = {"provider": "microsoft", "provider_params": {"tenant": "contoso"}, "access_url": None}
    assert problems(extra, host=None) == []
    assert [p.field for p in problems({**extra, "pkce": "maybe"}, host=None)] == ["pkce"]


def test_a_bad_own_field_under_a_preset_is_named_alone():
    # The preset merges mapping fields key by key: a bad one stops the merge, and nothing is reported missing.
    extra = {"provider": "microsoft", "provider_params": {"tenant": "contoso"}, "authorize_params": "{x"}
    assert texts({**extra, "access_url": None}, host=None) == [
        "Auth parameters (authorize_params): not valid JSON near character 1"
    ]


def test_cross_field_rules_come_from_the_profile_parser():
    assert texts({"expires_format": "fixed"}) == [
        "Default token lifetime (default_expires_in): expires_format 'fixed' needs the lifetime in seconds here"
    ]
    assert texts({"client_key": "/k.pem"}) == [
        "Client certificate key (client_key): needs 'client_cert' (the certificate's PEM file) as well"
    ]


def test_every_problem_at_once_in_form_order():
    found = problems(
        {"grant_type": "authorization_code", "access_url": "http://auth.example.com/t", "access_params": BROKEN_AT_48},
        login="",
    )
    assert [p.field for p in found] == ["login", "access_url", "authorize_url", "access_params"]


def test_extra_as_json_text():
    assert check_connection(host=API, login="id", password="pw", extra=json.dumps({"access_url": TOKEN})) == []
    assert [str(p) for p in check_connection(host=API, login="id", password="pw", extra='{"access_url": ')] == [
        "Extra (extra): not valid JSON near character 15"
    ]
    assert [str(p) for p in check_connection(host=API, login="id", password="pw", extra="[1]")] == [
        "Extra (extra): expected a JSON object, got list"
    ]


def test_another_connection_type():
    (problem,) = check_connection(conn_type="http", host=API, login="id", password="pw", extra=None)
    assert str(problem) == "Connection type (conn_type): expected 'oauth_connector', got 'http'"


def test_problem_as_dict_for_an_api():
    (problem,) = problems({"access_params": BROKEN_AT_48})
    assert problem.as_dict() == {
        "field": "access_params",
        "label": "Token parameters",
        "message": "not valid JSON near character 48",
        "text": "Token parameters (access_params): not valid JSON near character 48",
    }


@pytest.mark.parametrize(
    "extra",
    [
        {"grant_type": "authorization_code"},
        {"access_params": "{"},
        {"provider": "zoom"},
        {"provider": "zoom", "provider_params": '{"account_id": "a1"}', "access_url": None},
        {"grant_type": "jwt_bearer", "access_url": None},
        {"client_auth": "private_key_jwt"},
        {"post_authorize": {"url": "https://api.example.com/me"}},
        {"response_map": {"token": "x"}},
        {"scope": ["a"]},
    ],
)
def test_no_problem_exactly_when_the_profile_loads(extra):
    host = None if "provider" in extra else API
    found = problems(extra, host=host)
    refused: ProfileError | None = None
    try:
        applied = apply_preset("c", extra_with(extra), host)
        OAuthProfile.parse_applied("c", applied, login="client-id", password="s3cret")
    except ProfileError as exc:
        refused = exc
    if refused is None:
        assert found == []
    else:
        assert found, f"the loader refuses ({refused}) what check_connection accepts"
        assert refused.field.split(".")[0] in {p.field.split(".")[0] for p in found}


# ------------------------------------------------------------------------------ the typed error, the loader
def test_profile_loading_fails_with_every_labelled_problem():
    with pytest.raises(ConnectionSettingsError) as info:
        OAuthProfile.from_fields(
            "crm",
            host=API,
            login="id",
            password="pw",
            extra={"grant_type": "authorization_code", "access_params": BROKEN_AT_48},
        )
    error = info.value
    assert isinstance(error, ProfileError)
    assert error.field == "access_url"  # the loader's own first problem comes first, then the others in form order
    assert [p.field for p in error.problems] == ["access_url", "authorize_url", "access_params"]
    assert str(error).startswith("Connection 'crm' has 3 invalid settings: Access token URL (access_url): ")
    assert "Token parameters (access_params): not valid JSON near character 48" in str(error)
    assert str(error).endswith("Fix them in Admin > Connections (Edit) or the OAuth profiles page, then press Test.")


def test_one_problem_reads_as_one_sentence():
    error = ConnectionSettingsError("crm", [FieldProblem("scope", "Scope", "expected text")])
    assert str(error) == (
        "Connection 'crm': Scope (scope): expected text. Fix it in Admin > Connections (Edit) or the OAuth "
        "profiles page, then press Test."
    )
    with pytest.raises(ValueError, match="at least one problem"):
        ConnectionSettingsError("crm", [])


def test_settings_error_keeps_the_loaders_problem_first():
    error = settings_error(
        ProfileError("crm", "access_url", "the access-token URL is required"),
        host=API,
        login="id",
        password="pw",
        extra={"access_url": None, "pkce": "maybe"},
    )
    assert [p.field for p in error.problems] == ["access_url", "pkce"]
    assert error.problems[0].message == "the access-token URL is required"


def test_require_valid():
    require_valid("crm", host=API, login="id", password="pw", extra={"access_url": TOKEN})
    with pytest.raises(ConnectionSettingsError, match=r"Scope \(scope\): expected text, got int"):
        require_valid("crm", host=API, login="id", password="pw", extra={"access_url": TOKEN, "scope": 3})


def test_secrets_never_appear_in_problems():
    secret = "pw-Sentinel-123"
    found = problems({"client_auth": "private_key_jwt"}, password=secret)
    assert found
    assert all(secret not in str(p) for p in found)


# --------------------------------------------------------------------------------- the Test button
def test_test_button_reports_labelled_problems_without_a_token_request(monkeypatch):
    conn_id = set_connection(monkeypatch, "bad_api", grant_type="authorization_code", access_params=BROKEN_AT_48)
    hook = OAuthConnectorHook(conn_id)
    sent: list[Any] = []
    monkeypatch.setattr("requests.Session.send", lambda *a, **k: sent.append(a) or pytest.fail("a request was sent"))
    success, message = hook.test_connection()
    assert not success
    assert message == (
        "Invalid settings, no token requested: Authorization URL (authorize_url): required for authorization code "
        "(or set Issuer URL for discovery, or pick a provider preset that gives it); Token parameters "
        "(access_params): not valid JSON near character 48"
    )
    assert sent == []


def test_task_loading_the_profile_fails_with_the_labelled_message(monkeypatch):
    conn_id = set_connection(monkeypatch, "bad_api", access_params=BROKEN_AT_48)
    with pytest.raises(ConnectionSettingsError, match=r"Token parameters \(access_params\): not valid JSON near"):
        OAuthConnectorHook(conn_id).run("items")


def test_the_error_keeps_its_type_and_problems_across_a_deferral():
    from airflow_oauth_connector.events import error_from_event, error_to_event

    with pytest.raises(ConnectionSettingsError) as info:
        require_valid("crm", host=API, login="id", password="pw", extra={"access_params": BROKEN_AT_48})
    event = json.loads(json.dumps(error_to_event(info.value)))
    rebuilt = error_from_event(event)
    assert type(rebuilt) is ConnectionSettingsError
    assert rebuilt.problems == info.value.problems
    assert str(rebuilt) == str(info.value)


def test_an_extra_that_is_not_json_is_named_not_read_as_empty():
    from airflow.sdk import Connection

    conn = Connection(conn_id="crm", conn_type="oauth_connector", host=API, login="id", password="pw", extra="{oops")
    with pytest.raises(ProfileError, match=r"Connection 'crm': Extra \(extra\): not valid JSON near character 1"):
        OAuthProfile.from_connection(conn)


# ------------------------------------------------------------------------------ work done once
class Calls:
    """Counts the calls of the functions it wraps."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.seen: list[tuple[str, tuple[Any, ...]]] = []

    def wrap(self, target: Any, name: str) -> None:
        original = getattr(target, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.seen.append((name, args))
            return original(*args, **kwargs)

        self.monkeypatch.setattr(target, name, counted)

    def count(self, name: str) -> int:
        return sum(1 for seen, _args in self.seen if seen == name)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    import airflow_oauth_connector.profile as profile_module
    import airflow_oauth_connector.validation as validation_module

    counter = Calls(monkeypatch)
    counter.wrap(profile_module, "apply_preset")
    counter.wrap(validation_module, "apply_preset")
    counter.wrap(profile_module, "field_check")
    original = OAuthProfile.parse_applied.__func__  # type: ignore[attr-defined]

    def parse_applied(cls: type[OAuthProfile], *args: Any, **kwargs: Any) -> OAuthProfile:
        counter.seen.append(("parse_applied", args))
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(OAuthProfile, "parse_applied", classmethod(parse_applied))
    return counter


@pytest.mark.parametrize(
    "extra",
    [
        {"provider": "zoom", "provider_params": {"account_id": "a1"}, "pkce": "maybe"},  # a field is bad
        {"provider": "zoom", "provider_params": "[" * 5000},  # the preset step itself fails
    ],
)
def test_a_failed_load_applies_the_preset_once_and_parses_once(calls, extra):
    with pytest.raises(ConnectionSettingsError) as info:
        OAuthProfile.from_fields("crm", host=None, login="id", password="pw", extra=extra)
    assert calls.count("apply_preset") == 1
    assert calls.count("parse_applied") == (0 if "[" in str(extra["provider_params"]) else 1)
    assert info.value.field in ("pkce", "provider_params")


def test_a_check_applies_the_preset_once_and_reads_the_grant_type_once(calls):
    extra = {"provider": "zoom", "provider_params": {"account_id": "a1"}}
    assert check_connection(host=None, login="id", password="pw", extra=extra) == []
    assert calls.count("apply_preset") == 1
    assert calls.count("parse_applied") == 1  # the whole parse, for what the field-by-field pass cannot see
    assert [args[2] for name, args in calls.seen if name == "field_check"].count("grant_type") == 1


def test_settings_error_without_the_preset_outcome_applies_it_itself(calls):
    error = settings_error(
        ProfileError("crm", "pkce", "expected true or false"),
        host=None,
        login="id",
        password="pw",
        extra={"provider": "zoom", "provider_params": {"account_id": "a1"}, "pkce": "maybe", "scope": 3},
    )
    assert [p.field for p in error.problems] == ["pkce", "scope"]
    assert (calls.count("apply_preset"), calls.count("parse_applied")) == (1, 0)


# ------------------------------------------------------------------------------------------ renew signals
def test_renew_on_problems_are_labelled_and_a_good_one_passes():
    assert problems({"renew_on": {"statuses": [200], "path": "error", "values": ["token_expired"]}}) == []
    assert texts({"renew_on": {"statuses": [403, 700]}}) == [
        "Renew signals (renew_on.statuses): 700 is not an HTTP status 200-299 or 400-599 (e.g. 403)"
    ]
    assert texts({"renew_on": "{oops"}) == ["Renew signals (renew_on): not valid JSON near character 1"]
    (problem,) = problems({"renew_on": {"path": "error"}})
    assert (problem.field, problem.label) == ("renew_on.values", "Renew signals")


def test_an_unreadable_allow_insecure_http_hides_no_url_problem():
    """A bad allow_insecure_http is reported, and every URL is still checked as without it."""
    problems = check_connection(
        conn_id="c",
        host="http://api.example.com",
        login="id",
        password="secret",
        extra={"allow_insecure_http": "maybe", "access_url": "http://auth.example.com/token"},
    )
    assert {problem.field for problem in problems} >= {"host", "access_url", "allow_insecure_http"}
