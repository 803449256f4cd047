from __future__ import annotations

import json
import subprocess
import sys

import pytest

from airflow_oauth_connector.config import StoreBackend
from airflow_oauth_connector.fields import (
    ADVANCED,
    AUTHORIZATION_CODE,
    BY_NAME,
    ESSENTIALS,
    FIELDS,
    FORM_FIELDS,
    GRANT_NAMES,
    SECTIONS,
    STANDARD_FIELDS,
    conn_field_label,
    conn_fields,
    form_schema,
    json_schema,
    label_for,
    ui_field_behaviour,
)
from airflow_oauth_connector.presets import load_preset, preset_names
from airflow_oauth_connector.profile import (
    ClientAuthMethod,
    ExpiresFormat,
    GrantType,
    TokenBody,
    TokenMethod,
    TokenRequestKind,
)

#: What get_provider_info() declares for the connection form (built when asked, not at import).
CONN_FIELDS = conn_fields()
UI_FIELD_BEHAVIOUR = ui_field_behaviour()

#: The extra keys of the connection form before fields.py existed: users' stored connections hold them.
LEGACY_FORM_KEYS = {
    "provider", "provider_params", "grant_type", "access_url", "authorize_url", "scope", "client_auth",
    "signing_alg", "key_id", "client_assertion_file", "subject_token_file", "subject_token_type",
    "requested_token_type", "audience", "dpop", "par", "resource", "access_params", "authorize_params",
    "redirect_uri", "pkce", "issuer_url", "device_url", "store_backend", "access_body", "access_method",
    "refresh_url", "custom_grant_type", "grant_params", "username", "user_password", "jwt_subject",
    "jwt_audience", "jwt_issuer", "response_map", "expires_format", "capture_response", "capture_callback",
    "code_param", "post_authorize", "api_headers", "header_name", "header_prefix", "refresh_token",
    "renew_on",  # added later: API answers besides a 401 that mean the token expired
}  # fmt: skip
#: Form extras added since (new keys: no stored connection holds another name for them).
ADDED_FORM_KEYS = {"jwt_key_passphrase"}
#: Keys the profile reads that the README documents as Extra-JSON settings (not in Airflow's form).
JSON_ONLY_KEYS = {
    "query_param", "scope_separator", "error_map", "timeout", "expiry_leeway", "default_expires_in",
    "retry_max_attempts", "retry_max_seconds", "retry_non_idempotent", "verify_tls", "ca_bundle", "client_cert",
    "client_key", "allow_insecure_http", "jwt_algorithm", "jwt_key_id", "jwt_lifetime", "jwt_scope_in_claim",
    "jwt_claims",
}  # fmt: skip


def test_one_definition_per_field_and_key_names_unchanged():
    names = [spec.name for spec in FIELDS]
    assert len(names) == len(set(names))
    assert {spec.name for spec in STANDARD_FIELDS} == {"host", "login", "password"}
    assert {spec.name for spec in FORM_FIELDS} == LEGACY_FORM_KEYS | ADDED_FORM_KEYS
    assert {spec.name for spec in FIELDS if not spec.in_form} == JSON_ONLY_KEYS


def test_conn_fields_are_the_form_fields_in_order():
    assert list(CONN_FIELDS) == [spec.name for spec in FORM_FIELDS]
    for spec in FORM_FIELDS:
        assert CONN_FIELDS[spec.name] == {
            "label": conn_field_label(spec),
            "description": spec.form_description,
            "schema": json_schema(spec),
        }


def test_a_newcomer_meets_provider_and_grant_type_first_then_essentials_then_advanced():
    assert [spec.name for spec in FORM_FIELDS[:2]] == ["provider", "grant_type"]
    order = [SECTIONS.index(spec.section) for spec in FORM_FIELDS]
    assert order == sorted(order), "sections must not interleave"
    essentials = [spec.name for spec in FORM_FIELDS if spec.section == ESSENTIALS]
    assert essentials[:4] == ["provider", "grant_type", "provider_params", "access_url"]
    assert BY_NAME["authorize_url"].section == AUTHORIZATION_CODE
    assert next(s.name for s in FORM_FIELDS if s.section == AUTHORIZATION_CODE) == "authorize_url"
    assert BY_NAME["access_params"].section == ADVANCED
    assert all(spec.advanced or spec.grants for spec in FIELDS if spec.section == ADVANCED)


@pytest.mark.parametrize(
    ("name", "form_label"),
    [
        ("provider", "Provider (required)"),
        ("grant_type", "Grant type (required)"),
        ("access_url", "Access token URL (required)"),
        ("scope", "Scope"),
        ("client_auth", "Client authentication"),
        ("authorize_url", "Authorization URL (required for authorization code)"),
        ("redirect_uri", "Redirect URI (authorization code only)"),
        ("pkce", "PKCE (S256) (authorization code only)"),
        ("custom_grant_type", "Custom grant type (required for custom grant)"),
        ("username", "Username (required for password grant)"),
        ("subject_token_file", "Subject token file (required for token exchange)"),
        ("jwt_subject", "JWT subject (JWT bearer only)"),
        ("access_params", "Token parameters (advanced)"),
        ("store_backend", "Token store (advanced)"),
        ("jwt_key_passphrase", "Private key passphrase (advanced)"),
        ("post_authorize", "Post-authorization call (advanced)"),
        ("host", "API base URL (required)"),
        ("login", "Client ID (required except for JWT bearer)"),
        ("password", "Client secret (required)"),
    ],
)
def test_labels_say_required_grant_only_or_advanced(name, form_label):
    assert BY_NAME[name].form_label == form_label


@pytest.mark.parametrize(
    ("name", "lead"),
    [
        ("redirect_uri", "Authorization code only. "),
        ("authorize_url", "Required for authorization code. "),
        ("access_params", "Advanced, optional. "),
        ("grant_params", "Custom grant, client credentials and password grant only. "),
    ],
)
def test_descriptions_lead_with_the_requirement(name, lead):
    assert BY_NAME[name].form_description.startswith(lead)


def test_the_key_passphrase_is_a_masked_password_field_of_every_grant():
    spec = BY_NAME["jwt_key_passphrase"]
    assert (spec.kind, spec.grants, spec.section, spec.in_form) == ("password", None, ADVANCED, True)
    assert CONN_FIELDS["jwt_key_passphrase"]["schema"]["format"] == "password"
    assert "passphrase" in spec.name  # what Airflow's secrets masker looks for


def test_the_post_authorization_call_applies_to_grants_without_a_person_too():
    assert BY_NAME["post_authorize"].grants is None
    assert BY_NAME["post_authorize"].applies_to("jwt_bearer")


def test_client_authentication_label_no_longer_collides_with_a_grant_type():
    grant_labels = {option_label for _value, option_label in BY_NAME["grant_type"].options}
    assert "Client credentials" in grant_labels
    labels = [spec.label for spec in FIELDS]
    assert not grant_labels & set(labels)
    assert len(labels) == len(set(labels)), "two fields share a label: problems would be ambiguous"


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("grant_type", [g.value for g in GrantType]),
        ("client_auth", [m.value for m in ClientAuthMethod]),
        ("store_backend", list(StoreBackend.names())),
        ("access_body", [b.value for b in TokenBody]),
        ("access_method", [m.value for m in TokenMethod]),
        ("expires_format", [f.value for f in ExpiresFormat]),
    ],
)
def test_dropdown_values_are_the_profile_parsers(name, values):
    assert sorted(value for value, _label in BY_NAME[name].options) == sorted(values)


def test_grant_types_are_offered_in_form_order():
    assert list(GRANT_NAMES) == [value for value, _label in BY_NAME["grant_type"].options]
    assert GRANT_NAMES[:2] == ("client_credentials", "authorization_code")


def test_provider_dropdown_shows_each_presets_name():
    options = dict(BY_NAME["provider"].options)
    assert list(options) == ["custom", *preset_names()]
    for slug in preset_names():
        assert options[slug] == load_preset(slug).name
    assert BY_NAME["provider"].options[0] == ("custom", "Custom (no preset)")
    assert list(BY_NAME["provider"].options[-1:]) == [(slug, load_preset(slug).name) for slug in preset_names()[-1:]]


def test_importing_the_fields_reads_no_preset_file():
    code = (
        "import sys, airflow_oauth_connector.fields as f, airflow_oauth_connector.presets as p; "
        "print('yaml' in sys.modules, f._provider_options.cache_info().currsize, p.load_preset.cache_info().currsize); "
        "f.label_for('provider_params'); f.BY_NAME['provider'].options; f.conn_fields(); "
        "print('yaml' in sys.modules, f._provider_options.cache_info().misses, p.load_preset.cache_info().misses)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    imported, first_use = done.stdout.splitlines()
    assert imported == "False 0 0"  # a ProfileError's label (exceptions.labelled) needs no preset file
    assert first_use == f"True 1 {len(preset_names())}"  # the dropdown's labels: every file read once


def test_the_32_form_drops_required_from_a_label_its_asterisk_says():
    assert CONN_FIELDS["grant_type"]["label"] == "Grant type"  # the schema marks it required
    assert CONN_FIELDS["provider"]["label"] == "Provider"
    assert CONN_FIELDS["access_url"]["label"] == "Access token URL (required)"  # the form cannot require it


def test_json_schema_marks_what_the_react_form_enforces():
    # Required (a type without null): only fields every grant needs and that start with a value.
    required = {name for name, field in CONN_FIELDS.items() if isinstance(field["schema"]["type"], str)}
    assert required == {"provider", "grant_type"}
    # Object fields get the form's JSON editor, which refuses invalid JSON before Save.
    objects = {name for name, field in CONN_FIELDS.items() if field["schema"]["type"] == ["object", "null"]}
    assert objects == {spec.name for spec in FORM_FIELDS if spec.kind == "json"}
    assert {"access_params", "authorize_params", "provider_params", "api_headers"} <= objects
    assert CONN_FIELDS["access_url"]["schema"]["format"] == "url"
    assert CONN_FIELDS["client_auth"]["schema"]["values_display"]["none"] == "None: public client (use PKCE)"
    assert all(field["schema"]["section"] in SECTIONS for field in CONN_FIELDS.values())


def test_provider_info_keeps_to_airflows_conn_fields_keys():
    # provider.yaml's schema allows only label / description / schema per field; the rest stays in fields.py.
    assert all(set(field) == {"label", "description", "schema"} for field in CONN_FIELDS.values())


def test_standard_fields_behaviour():
    assert UI_FIELD_BEHAVIOUR["hidden-fields"] == ["schema", "port"]
    assert UI_FIELD_BEHAVIOUR["relabeling"] == {spec.name: spec.form_label for spec in STANDARD_FIELDS}
    assert UI_FIELD_BEHAVIOUR["placeholders"]["host"] == "https://api.example.com/v1"


def test_grants_and_required_for_name_real_grant_types():
    for spec in FIELDS:
        assert set(spec.required_for) <= set(spec.grants or GRANT_NAMES), spec.name
        assert set(spec.grants or ()) <= set(GRANT_NAMES), spec.name
        assert spec.applies_to("authorization_code") == (spec.grants is None or "authorization_code" in spec.grants)
    client_credentials = {spec.name for spec in FIELDS if spec.applies_to("client_credentials")}
    assert not client_credentials & {"authorize_url", "pkce", "redirect_uri", "device_url", "refresh_token"}


def test_token_parameters_describe_every_kind_of_request_they_can_be_scoped_to():
    description = BY_NAME["access_params"].description
    assert all(f'"{kind.value}"' in description for kind in TokenRequestKind)
    # the section names stay readable in Airflow: none contains a word its secrets masker hides
    masked = ("token", "secret", "authorization", "password", "private_key")
    assert not [kind.value for kind in TokenRequestKind if any(word in kind.value for word in masked)]


def test_label_for_names_nested_keys_by_their_field():
    assert label_for("access_params") == "Token parameters"
    assert label_for("access_params.query") == "Token parameters"
    assert label_for("access_params.exchange.body") == "Token parameters"
    assert label_for("post_authorize.url") == "Post-authorization call"
    assert label_for("extra") == "Extra"
    assert label_for("no_such_key") == "no_such_key"


def test_form_schema_for_the_native_page():
    schema = form_schema()
    assert json.loads(json.dumps(schema)) == schema  # JSON-ready
    assert [g["value"] for g in schema["grant_types"]] == list(GRANT_NAMES)
    assert all(set(g) == {"value", "label", "description"} for g in schema["grant_types"])
    fields = {f["name"]: f for f in schema["fields"]}
    assert list(fields) == [spec.name for spec in FIELDS]
    assert fields["host"]["standard"] is True
    assert fields["access_url"]["standard"] is False
    assert fields["authorize_url"] | {"description": ""} == {
        "name": "authorize_url",
        "label": "Authorization URL",
        "form_label": "Authorization URL (required for authorization code)",
        "description": "",
        "kind": "url",
        "options": [],
        "default": None,
        "grants": ["authorization_code"],
        "required_for": ["authorization_code"],
        "required_unless": "Issuer URL is set or the provider preset gives it",
        "advanced": False,
        "section": AUTHORIZATION_CODE,
        "standard": False,
        "in_form": True,
        "placeholder": None,
    }
    assert fields["scope"]["grants"] is None
    header = {"value": "header", "label": "HTTP Basic header (client_secret_basic)"}
    assert fields["client_auth"]["options"][0] == header
    presets = {p["name"]: p for p in schema["presets"]}
    assert list(presets) == preset_names()
    microsoft = presets["microsoft"]
    assert microsoft["label"] == "Microsoft Entra ID / Graph"
    assert microsoft["grant_type"] == "authorization_code"
    assert set(microsoft["grant_types"]) == {"authorization_code", "client_credentials"}
    assert [p["name"] for p in microsoft["params"]] == ["tenant"]
    assert microsoft["params"][0]["required"] is True
    assert {"access_url", "authorize_url", "host"} <= set(microsoft["fills"])
    assert presets["zoom"]["grant_type"] == "custom"
