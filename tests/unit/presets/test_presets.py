"""Provider presets: every file valid against the schema, every value sourced, resolution rules, bad input."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from airflow_oauth_connector.exceptions import CapturedValueMissingError, ProfileError
from airflow_oauth_connector.presets import apply_preset, load_preset, preset_names
from airflow_oauth_connector.profile import GrantType, OAuthProfile, TokenRequestKind, fill_placeholders
from tests.support.builders import box_app_config

PRESETS = Path(str(resources.files("airflow_oauth_connector.presets")))
SCHEMA = json.loads((PRESETS / "schema.json").read_text())

#: The issue's table: slug -> (provider_params, the API base URL the preset establishes).
TABLE = {
    "salesforce": ({}, "{instance_url}/services/data/v62.0"),
    "hubspot": ({}, "https://api.hubapi.com"),
    "google": ({}, "https://www.googleapis.com"),
    "google_service_account": ({}, "https://www.googleapis.com"),
    "microsoft": ({"tenant": "contoso.onmicrosoft.com"}, "https://graph.microsoft.com/v1.0"),
    "zoho": ({"region": "com.au"}, "{api_domain}"),
    "xero": ({}, "https://api.xero.com/api.xro/2.0"),
    "quickbooks": ({}, "https://quickbooks.api.intuit.com/v3/company/{realmId}"),
    "slack": ({"user_scope": "search:read"}, "https://slack.com/api"),
    "github": ({}, "https://api.github.com"),
    "notion": ({}, "https://api.notion.com/v1"),
    "atlassian": ({}, "https://api.atlassian.com/ex/jira/{cloudId}"),
    "amazon_sp_api": (
        {"region": "fe", "application_id": "amzn1.sp.solution.abc"},
        "https://sellingpartnerapi-fe.amazon.com",
    ),
    "zoom": ({"account_id": "acc-1"}, "https://api.zoom.us/v2"),
    "okta": ({"domain": "acme.okta.com"}, "https://acme.okta.com"),
    "shopify": ({"shop": "acme.myshopify.com"}, "https://acme.myshopify.com/admin/api/2025-07"),
    "spotify": ({}, "https://api.spotify.com/v1"),
    "box": ({}, "https://api.box.com/2.0"),
}


def profile(slug: str, params=None, *, host=None, password="secret", **extra) -> OAuthProfile:
    fields = {"provider": slug, "provider_params": params or {}, **extra}
    return OAuthProfile.from_fields("c1", host=host, login="client", password=password, extra=fields)


@pytest.mark.parametrize("slug", preset_names())
def test_preset_file_is_valid_and_every_value_cites_its_source(slug):
    data = yaml.safe_load((PRESETS / f"{slug}.yaml").read_text())
    jsonschema.validate(data, SCHEMA)
    sourced = set(data["sources"])
    for group in [data["fields"], *data.get("grant_fields", {}).values(), *data.get("param_fields", {}).values()]:
        missing = sorted(set(group) - sourced)
        assert not missing, f"{slug}: no source for {missing}"
    if data.get("scope_extra"):
        assert "scope_extra" in sourced, f"{slug}: no source for scope_extra"


def test_at_least_thirty_presets_including_the_issue_table():
    names = set(preset_names())
    assert set(TABLE) <= names
    assert len(names) >= 30


@pytest.mark.parametrize("slug", sorted(TABLE))
def test_table_base_urls(slug):
    params, base = TABLE[slug]
    password = "secret" if slug != "google_service_account" else _pem_key()
    assert profile(slug, params, password=password).base_url == base


@pytest.mark.parametrize("slug", preset_names())
def test_every_preset_builds_a_profile_with_example_params(slug):
    preset = load_preset(slug)
    params = {
        name: (p.choices[0] if p.choices else _example(slug, name))
        for name, p in preset.params.items()
        if p.default is None
    }
    password = _pem_key() if preset.fields.get("grant_type") == "jwt_bearer" else "secret"
    if slug == "box_jwt":  # the key and the client secret come in Box's app config
        password = box_app_config(password)
    built = profile(slug, params, password=password)
    assert built.provider == slug
    assert built.access_url
    assert built.access_url.startswith("https://")
    assert "{" not in built.access_url
    assert "{" not in (built.authorize_url or "")


@pytest.mark.parametrize("slug", [s for s in preset_names() if any(p.derive for p in load_preset(s).params.values())])
def test_every_choice_derives_its_hosts_and_builds(slug):
    preset = load_preset(slug)
    fixed = {name: (p.choices[0] if p.choices else _example(slug, name)) for name, p in preset.params.items()}
    for name, param in preset.params.items():
        for table in param.derive.values():
            assert set(table) == set(param.choices), f"{slug}.{name}: derive must cover exactly the choices"
        for choice in param.choices:
            built = profile(slug, {**fixed, name: choice})
            assert all("{" not in url for url in (built.access_url, built.authorize_url or ""))
            assert any(host in built.authorize_url for table in param.derive.values() for host in [table[choice]])


def _example(slug: str, name: str) -> str:
    return {
        "tenant": "contoso.onmicrosoft.com",
        "application_id": "amzn1.sp.solution.x",
        "account_id": "acc",
        "domain": "acme.okta.com",
        "shop": "acme.myshopify.com",
        "user_scope": "search:read",
        "username": "etl@acme.com",
        "user_id": "4799e5e9-1559-4915-9862-cf4713bbcacc",
        "subject_id": "1234567",
    }.get(name, "x")


def _pem_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_explicit_fields_override_the_preset_and_mappings_combine():
    p = profile(
        "google",
        host="https://sheets.googleapis.com/v4",
        authorize_params={"prompt": "select_account", "hd": "acme.com"},
    )
    assert p.base_url == "https://sheets.googleapis.com/v4"
    assert dict(p.authorize_params) == {"access_type": "offline", "prompt": "select_account", "hd": "acme.com"}
    assert profile("xero", client_auth="body").client_auth.value == "body"  # Xero's preset says header


#: What Airflow's Connections form stores for the fields a user leaves alone (tests/integration/
#: test_connection_form.py shows it storing them: provider, grant type, client authentication, ...).
CLASSIC_FORM_DEFAULTS = {
    "grant_type": "client_credentials",
    "client_auth": "header",
    "pkce": True,
    "par": False,
    "access_body": "form",
    "access_method": "POST",
}


@pytest.mark.parametrize(
    ("slug", "grant", "client_auth", "pkce", "access_body"),
    [
        ("box", "authorization_code", "body", True, "form"),
        ("notion", "authorization_code", "header", False, "json"),
        ("zoom", "custom", "header", True, "form"),
        ("box_ccg", "client_credentials", "body", True, "form"),
        ("microsoft", "client_credentials", "body", True, "form"),  # it offers client credentials: kept
    ],
)
def test_form_defaults_left_alone_take_the_presets_values(slug, grant, client_auth, pkce, access_body):
    from airflow_oauth_connector.fields import FORM_DEFAULTS

    assert {name: FORM_DEFAULTS[name] for name in CLASSIC_FORM_DEFAULTS} == CLASSIC_FORM_DEFAULTS
    preset = load_preset(slug)
    params = {name: p.choices[0] if p.choices else _example(slug, name) for name, p in preset.params.items()}
    built = profile(slug, params, **CLASSIC_FORM_DEFAULTS)
    assert built.grant_type.value == grant
    assert built.client_auth.value == client_auth
    assert built.pkce is pkce
    assert built.access_body.value == access_body


def test_a_value_other_than_the_forms_default_still_overrides_the_preset():
    built = profile("box", grant_type="authorization_code", client_auth="none", pkce=False)
    assert (built.client_auth.value, built.pkce) == ("none", False)


SHOP = {"shop": "acme.myshopify.com"}


def test_shopify_asks_for_expiring_offline_tokens_on_the_code_exchange_only():
    params = profile("shopify", SHOP).access_params
    assert dict(params.for_request(TokenRequestKind.EXCHANGE).body) == {"expiring": "1"}
    assert dict(params.for_request(TokenRequestKind.REFRESH).body) == {}
    assert "expiring" in " ".join(load_preset("shopify").raw["quirks"])


def test_a_connections_token_parameters_combine_with_the_presets():
    own = {"headers": {"X-Trace": "1"}, "refresh": {"body": {"a": "b"}}}
    params = profile("shopify", SHOP, access_params=json.dumps(own)).access_params
    assert (dict(params.headers), dict(params.exchange.body)) == ({"X-Trace": "1"}, {"expiring": "1"})
    assert dict(params.refresh.body) == {"a": "b"}
    opted_out = profile("shopify", SHOP, access_params={"exchange": {"body": {"expiring": "0"}}}).access_params
    assert dict(opted_out.for_request(TokenRequestKind.EXCHANGE).body) == {"expiring": "0"}


def test_refresh_token_scopes_are_added_to_the_users_own():
    assert profile("xero", scope="accounting.transactions").scope == "accounting.transactions offline_access"
    assert profile("xero", scope="offline_access openid").scope == "offline_access openid"
    ms_cc = profile("microsoft", {"tenant": "t.onmicrosoft.com"}, grant_type="client_credentials")
    assert ms_cc.grant_type is GrantType.CLIENT_CREDENTIALS
    assert ms_cc.scope == "https://graph.microsoft.com/.default"


def test_google_asks_for_a_refresh_token():
    assert dict(profile("google").authorize_params) == {"access_type": "offline", "prompt": "consent"}


def test_provider_parameter_fields_apply_only_when_given():
    assert profile("slack").response.access_token == "access_token"
    user = profile("slack", {"user_scope": "search:read"})
    assert user.response.access_token == "authed_user.access_token|access_token"
    assert user.authorize_params["user_scope"] == "search:read"


def test_unknown_slug_lists_the_valid_ones():
    with pytest.raises(ProfileError) as info:
        profile("salesfarce")
    assert info.value.field == "provider"
    assert "'salesfarce'" in info.value.problem
    assert "custom, amazon_sp_api" in info.value.problem
    assert "salesforce" in info.value.problem


def test_missing_provider_param_names_key_and_preset():
    with pytest.raises(ProfileError) as info:
        profile("microsoft")
    assert info.value.field == "provider_params"
    assert "'microsoft'" in info.value.problem
    assert "'tenant'" in info.value.problem


def test_bad_provider_params_are_refused():
    with pytest.raises(ProfileError, match="must be one of"):
        profile("zoho", {"region": "mars"})
    with pytest.raises(ProfileError, match="is not valid"):
        profile("okta", {"domain": "evil.com/x?"})
    with pytest.raises(ProfileError, match="unknown key"):
        profile("hubspot", {"tenant": "x"})


def test_missing_captured_value_says_authorize_again():
    with pytest.raises(CapturedValueMissingError) as info:
        fill_placeholders("qb", "https://quickbooks.api.intuit.com/v3/company/{realmId}", {})
    assert info.value.name == "realmId"
    assert "authorize again" in str(info.value)
    assert "'realmId'" in str(info.value)


def test_custom_is_the_default_and_changes_nothing():
    plain = OAuthProfile.from_fields(
        "c", host="https://api.example.com", login="a", password="b", extra={"access_url": "https://auth.example.com/t"}
    )
    assert plain.provider == "custom"


def test_readme_provider_table_lists_every_preset():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    missing = [slug for slug in preset_names() if f"[`{slug}`](" not in readme]
    assert not missing, f"README's provider table lacks {missing}"


def test_captured_values_in_a_url_path_stay_one_segment():
    template = "https://quickbooks.api.intuit.com/v3/company/{realmId}"
    assert fill_placeholders("qb", template, {"realmId": "1/../x?y=1"}, url=True).endswith(
        "/company/1%2F..%2Fx%3Fy%3D1"
    )
    leading = fill_placeholders(
        "sf", "{instance_url}/services", {"instance_url": "https://a.my.salesforce.com"}, url=True
    )
    assert leading == "https://a.my.salesforce.com/services"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 100_000, "is longer than 65536 characters"),  # crashed apply_preset with RecursionError before
        ("[" * 5000, "not valid JSON: nested too deeply"),  # short enough to decode: json.loads recurses
        ('{"tenant": ', "not valid JSON near character 11"),
        ('["contoso"]', "expected a JSON object, got list"),
    ],
)
def test_provider_params_that_are_not_a_json_object_are_a_problem_not_a_crash(text, problem):
    with pytest.raises(ProfileError) as info:
        apply_preset("crm", {"provider": "microsoft", "provider_params": text}, None)
    assert (info.value.field, info.value.problem) == ("provider_params", problem)


def test_a_merged_mapping_given_as_json_text_is_decoded_by_the_same_rules():
    applied = apply_preset("crm", {"provider": "google", "authorize_params": '{"prompt": "none"}'}, None)
    assert applied.fields["authorize_params"] == {"access_type": "offline", "prompt": "none"}
    with pytest.raises(ProfileError) as info:
        apply_preset("crm", {"provider": "google", "authorize_params": "[" * 5000}, None)
    assert (info.value.field, info.value.problem) == ("authorize_params", "not valid JSON: nested too deeply")


def test_slack_and_amazon_declare_their_expired_token_answers():
    slack = profile("slack", {"user_scope": "search:read"}).renew_on
    assert slack is not None
    assert slack.statuses == frozenset({200})
    assert slack.path == "error"
    assert {"token_expired", "invalid_auth", "token_revoked"} == slack.values
    amazon = profile("amazon_sp_api", {"region": "eu", "application_id": "amzn1.sp.solution.abc"}).renew_on
    assert amazon is not None
    assert amazon.statuses == frozenset({403})
    assert (amazon.path, amazon.values) == ("errors.0.code", frozenset({"Unauthorized"}))
    mine = profile("slack", {"user_scope": ""}, renew_on={"statuses": [401, 403]}).renew_on  # own setting wins
    assert mine is not None
    assert mine.statuses == frozenset({401, 403})
    assert mine.path is None
