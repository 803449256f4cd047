"""OAuthProfile: parsing and validating connection fields into an immutable profile."""

from __future__ import annotations

import dataclasses
import json

import pytest
from airflow.sdk import Connection

from airflow_oauth_connector.exceptions import ProfileError
from airflow_oauth_connector.profile import (
    CONN_TYPE,
    AccessParams,
    ClientAuthMethod,
    GrantType,
    OAuthProfile,
    RenewSignal,
    RequestParams,
    TokenRequestKind,
    field_check,
    is_loopback_host,
    origin_of,
)
from airflow_oauth_connector.retry import RetryPolicy
from airflow_oauth_connector.token import known_secrets
from airflow_oauth_connector.validation import check_connection
from tests.support.builders import (
    API_URL,
    AUTHORIZE_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    CONN_ID,
    REFRESH,
    TOKEN_URL,
    box_app_config,
    make_profile,
    rsa_private_pem,
)


def profile_error(extra: dict | None = None, **kwargs: object) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        make_profile(extra, **kwargs)  # type: ignore[arg-type]
    return info.value


# --- a minimal profile and its defaults --------------------------------------------------------------------


def test_minimal_client_credentials_profile_defaults():
    profile = make_profile()
    assert profile.conn_id == CONN_ID
    assert profile.base_url == API_URL
    assert profile.grant_type is GrantType.CLIENT_CREDENTIALS
    assert profile.client_id == CLIENT_ID
    assert profile.client_secret == CLIENT_SECRET
    assert profile.access_url == TOKEN_URL
    assert profile.authorize_url is None
    assert profile.issuer_url is None
    assert profile.scope is None
    assert profile.client_auth is ClientAuthMethod.HEADER
    assert profile.access_params == AccessParams()
    assert dict(profile.authorize_params) == {}
    assert profile.redirect_uri is None
    assert profile.pkce is True
    assert profile.refresh_token is None
    assert profile.header_name == "Authorization"
    assert profile.header_prefix == "Bearer"
    assert profile.query_param is None
    assert profile.timeout == 30.0
    assert profile.expiry_leeway == 60.0
    assert profile.default_expires_in is None
    assert profile.retry == RetryPolicy(max_attempts=5, max_elapsed=120.0, retry_non_idempotent=False)
    assert profile.verify is True
    assert profile.allow_insecure_http is False
    assert profile.api_origin == "https://api.example.com:443"


def test_conn_type_constant():
    assert CONN_TYPE == "oauth_connector"


def test_client_id_is_stripped():
    assert make_profile(login="  my-client \n").client_id == "my-client"


def test_base_url_trailing_slash_removed():
    assert make_profile(host="https://api.example.com/v2/").base_url == "https://api.example.com/v2"


# --- every documented extra key ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("client_credentials", GrantType.CLIENT_CREDENTIALS),
        ("authorization_code", GrantType.AUTHORIZATION_CODE),
        ("Authorization-Code", GrantType.AUTHORIZATION_CODE),
        ("  CLIENT CREDENTIALS ", GrantType.CLIENT_CREDENTIALS),
        ("", GrantType.CLIENT_CREDENTIALS),
    ],
)
def test_grant_type(value, expected):
    extra = {"grant_type": value, "authorize_url": AUTHORIZE_URL}
    assert make_profile(extra).grant_type is expected


def test_urls_are_kept():
    profile = make_profile(
        {
            "access_url": " https://auth.example.com/token ",
            "authorize_url": "https://auth.example.com/authorize?prompt=consent",
            "issuer_url": "https://auth.example.com/realms/x",
            "redirect_uri": "https://airflow.example.com/oauth/callback",
        }
    )
    assert profile.access_url == "https://auth.example.com/token"
    assert profile.authorize_url == "https://auth.example.com/authorize?prompt=consent"
    assert profile.issuer_url == "https://auth.example.com/realms/x"
    assert profile.redirect_uri == "https://airflow.example.com/oauth/callback"


def test_issuer_url_alone_is_enough_for_both_grants():
    profile = make_profile(
        {"issuer_url": "https://auth.example.com", "grant_type": "authorization_code"}, with_access_url=False
    )
    assert profile.access_url is None
    assert profile.authorize_url is None
    assert profile.issuer_url == "https://auth.example.com"


def test_redirect_uri_may_be_plain_http():
    assert make_profile({"redirect_uri": "http://airflow.internal/cb"}).redirect_uri == "http://airflow.internal/cb"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("read write", "read write"),
        ("read,write", "read write"),
        ("  read ,  write  admin ", "read write admin"),
        ("   ", None),
        (",", None),
        ("", None),
    ],
)
def test_scope_normalised(value, expected):
    assert make_profile({"scope": value}).scope == expected


@pytest.mark.parametrize(
    ("alias", "method"),
    [
        ("header", ClientAuthMethod.HEADER),
        ("basic", ClientAuthMethod.HEADER),
        ("client_secret_basic", ClientAuthMethod.HEADER),
        ("Client-Secret-Basic", ClientAuthMethod.HEADER),
        ("body", ClientAuthMethod.BODY),
        ("post", ClientAuthMethod.BODY),
        ("client_secret_post", ClientAuthMethod.BODY),
        ("none", ClientAuthMethod.NONE),
        ("public", ClientAuthMethod.NONE),
        ("NONE", ClientAuthMethod.NONE),
    ],
)
def test_client_auth_aliases(alias, method):
    assert make_profile({"client_auth": alias}).client_auth is method


def test_client_auth_rfc_names():
    assert ClientAuthMethod.HEADER.rfc_name == "client_secret_basic"
    assert ClientAuthMethod.BODY.rfc_name == "client_secret_post"
    assert ClientAuthMethod.NONE.rfc_name == "none"


def test_client_auth_unknown_names_field():
    error = profile_error({"client_auth": "tls_client_auth"})
    assert error.field == "client_auth"
    assert "tls_client_auth" in str(error)
    assert "private_key_jwt" in str(error)  # listed among the accepted values


ACCESS_PARAMS = {
    "query": {"tenant": "t1", "n": 3},
    "headers": {"X-Api-Version": "2", "X-Flag": True},
    "body": {"audience": "https://api.example.com", "resource": "r", "enabled": False, "ratio": 1.5},
}


@pytest.mark.parametrize("encode", [json.dumps, lambda value: value], ids=["json-string", "dict"])
def test_access_params_string_or_dict(encode):
    params = make_profile({"access_params": encode(ACCESS_PARAMS)}).access_params
    assert dict(params.query) == {"tenant": "t1", "n": "3"}
    assert dict(params.headers) == {"X-Api-Version": "2", "X-Flag": "true"}
    assert dict(params.body) == {
        "audience": "https://api.example.com",
        "resource": "r",
        "enabled": "false",
        "ratio": "1.5",
    }


def test_access_params_partial_and_empty_parts():
    params = make_profile({"access_params": {"body": {"audience": "a"}, "query": None}}).access_params
    assert dict(params.body) == {"audience": "a"}
    assert dict(params.query) == {}
    assert dict(params.headers) == {}


def test_access_params_are_read_only():
    params = make_profile({"access_params": ACCESS_PARAMS}).access_params
    with pytest.raises(TypeError):
        params.body["audience"] = "other"  # type: ignore[index]


def test_access_params_sections_scope_parts_to_one_kind_of_request():
    params = make_profile(
        {
            "access_params": json.dumps(
                {
                    "body": {"audience": "a", "mode": "shared"},
                    "exchange": {"body": {"expiring": 1, "mode": "exchange"}},
                    "refresh": {"headers": {"X-Refresh": "yes"}, "query": None},
                    "grant": None,
                }
            )
        }
    ).access_params
    assert dict(params.body) == {"audience": "a", "mode": "shared"}
    assert dict(params.exchange.body) == {"expiring": "1", "mode": "exchange"}
    exchange = params.for_request(TokenRequestKind.EXCHANGE)
    assert dict(exchange.body) == {"audience": "a", "mode": "exchange", "expiring": "1"}
    refresh = params.for_request(TokenRequestKind.REFRESH)
    assert (dict(refresh.body), dict(refresh.headers)) == ({"audience": "a", "mode": "shared"}, {"X-Refresh": "yes"})
    assert (
        params.for_request(TokenRequestKind.GRANT)
        == params.for_request(None)
        == RequestParams(params.query, params.headers, params.body)
    )


def test_access_params_without_sections_are_the_same_on_every_request():
    params = make_profile({"access_params": ACCESS_PARAMS}).access_params
    assert all(params.for_request(kind) == params.for_request(None) for kind in TokenRequestKind)
    assert dict(params.for_request(TokenRequestKind.REFRESH).body) == dict(params.body)


@pytest.mark.parametrize(
    ("grant_type", "kind"),
    [
        ("authorization_code", TokenRequestKind.EXCHANGE),
        ("urn:ietf:params:oauth:grant-type:device_code", TokenRequestKind.EXCHANGE),
        ("refresh_token", TokenRequestKind.REFRESH),
        ("client_credentials", TokenRequestKind.GRANT),
        ("urn:ietf:params:oauth:grant-type:jwt-bearer", TokenRequestKind.GRANT),
        ("account_credentials", TokenRequestKind.GRANT),
    ],
)
def test_a_token_requests_kind_follows_its_grant_type(grant_type, kind):
    assert TokenRequestKind.of(grant_type) is kind


@pytest.mark.parametrize(
    ("value", "field", "problem"),
    [
        (
            {"exchange": ["a"]},
            "access_params.exchange",
            "expected a JSON object with 'query', 'headers', 'body', got list",
        ),
        (
            {"refresh": {"form": {}}},
            "access_params.refresh",
            "unknown part(s) form; expected 'query', 'headers', 'body'",
        ),
        ({"grant": {"body": {"a": {"b": 1}}}}, "access_params.grant.body", "value of 'a' must be a string"),
        ({"exchange": {"headers": {"bad header": "1"}}}, "access_params.exchange.headers", "'bad header' is not a"),
        ({"exchange": {"body": ["a"]}}, "access_params.exchange.body", "expected a JSON object, got list"),
    ],
)
def test_access_params_section_problems_name_the_section(value, field, problem):
    error = profile_error({"access_params": value})
    assert error.field == field
    assert error.problem.startswith(problem)


@pytest.mark.parametrize("encode", [json.dumps, lambda value: value], ids=["json-string", "dict"])
def test_authorize_params(encode):
    profile = make_profile({"authorize_params": encode({"prompt": "consent", "max_age": 0, "x": True})})
    assert dict(profile.authorize_params) == {"prompt": "consent", "max_age": "0", "x": "true"}
    with pytest.raises(TypeError):
        profile.authorize_params["prompt"] = "none"  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("off", False),
        ("true", True),
        (" yes ", True),
        ("1", True),
        ("on", True),
        ("", True),
        (None, True),
    ],
)
def test_pkce_boolean(value, expected):
    assert make_profile({"pkce": value}).pkce is expected


@pytest.mark.parametrize("value", ["maybe", 2, 1.0, [], {}])
def test_boolean_rejects_junk(value):
    error = profile_error({"pkce": value})
    assert error.field == "pkce"
    assert "true or false" in error.problem


def test_refresh_token_kept():
    assert make_profile({"refresh_token": f"  {REFRESH}  "}).refresh_token == REFRESH


def test_header_name_prefix_and_query_param():
    profile = make_profile({"header_name": "X-Api-Key", "header_prefix": "Token", "query_param": "access_token"})
    assert profile.header_name == "X-Api-Key"
    assert profile.header_prefix == "Token"
    assert profile.query_param == "access_token"


@pytest.mark.parametrize("prefix", ["", "   "])
def test_header_prefix_explicit_empty_means_no_prefix(prefix):
    assert make_profile({"header_prefix": prefix}).header_prefix == ""


@pytest.mark.parametrize("prefix", ["Bearer\r\nX-Evil: 1", "a\nb", "a\0b", 5])
def test_header_prefix_rejects_line_breaks_and_non_text(prefix):
    error = profile_error({"header_prefix": prefix})
    assert error.field == "header_prefix"


@pytest.mark.parametrize("name", ["X Api", "X-Api:", "Bad\r\nName", "é", "(x)"])
def test_header_name_must_be_a_token(name):
    error = profile_error({"header_name": name})
    assert error.field == "header_name"
    assert "not a valid HTTP header name" in error.problem


def test_blank_header_name_means_default():
    assert make_profile({"header_name": "  "}).header_name == "Authorization"


def test_numbers_and_retry_fields():
    profile = make_profile(
        {
            "timeout": "12.5",
            "expiry_leeway": 0,
            "default_expires_in": "900",
            "retry_max_attempts": "3",
            "retry_max_seconds": 45,
            "retry_non_idempotent": "true",
        }
    )
    assert profile.timeout == 12.5
    assert profile.expiry_leeway == 0
    assert profile.default_expires_in == 900
    assert profile.retry.max_attempts == 3
    assert isinstance(profile.retry.max_attempts, int)
    assert profile.retry.max_elapsed == 45
    assert profile.retry.retry_non_idempotent is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", "fast"),
        ("timeout", 0),
        ("timeout", "nan"),
        ("timeout", True),
        ("timeout", [1]),
        ("expiry_leeway", -1),
        ("default_expires_in", 0),
        ("default_expires_in", "0.5"),
        ("retry_max_attempts", 0),
        ("retry_max_attempts", "zero"),
        ("retry_max_seconds", 0),
        ("retry_max_seconds", {}),
    ],
)
def test_bad_numbers_name_the_field(name, value):
    error = profile_error({name: value})
    assert error.field == name
    assert "number" in error.problem


@pytest.mark.parametrize(
    ("name", "value"),
    [("retry_max_attempts", "inf"), ("retry_max_attempts", 1e308 * 10), ("timeout", 10**400)],
    ids=["attempts-inf-string", "attempts-inf-float", "timeout-huge-int"],
)
def test_non_finite_or_huge_numbers_are_profile_errors(name, value):
    error = profile_error({name: value})
    assert error.field == name


def test_tls_fields():
    assert make_profile({"verify_tls": "false"}).verify is False
    assert make_profile({"verify_tls": True}).verify is True
    assert make_profile({"ca_bundle": " /etc/ssl/corp.pem "}).verify == "/etc/ssl/corp.pem"
    assert make_profile({"ca_bundle": "/etc/ssl/corp.pem", "verify_tls": False}).verify == "/etc/ssl/corp.pem"
    assert make_profile({"ca_bundle": ""}).verify is True


def test_allow_insecure_http():
    profile = make_profile(
        {"allow_insecure_http": "yes", "access_url": "http://auth.internal/token"}, host="http://api.internal"
    )
    assert profile.allow_insecure_http is True
    assert profile.access_url == "http://auth.internal/token"
    assert profile.base_url == "http://api.internal"
    assert profile.api_origin == "http://api.internal:80"


@pytest.mark.parametrize("name", ["scope", "refresh_token", "query_param", "ca_bundle", "access_url"])
def test_text_fields_reject_non_text(name):
    error = profile_error({name: 123})
    assert error.field == name
    assert "expected text" in error.problem


# --- errors that name the field ----------------------------------------------------------------------------


def test_unknown_grant_type():
    error = profile_error({"grant_type": "implicit"})
    assert error.field == "grant_type"
    assert error.conn_id == CONN_ID
    assert "'implicit'" in error.problem
    assert "authorization_code, client_credentials, custom, jwt_bearer, password" in error.problem
    assert str(error).startswith(f"Connection '{CONN_ID}': Grant type (grant_type): ")


def test_missing_access_url_without_issuer():
    error = profile_error(with_access_url=False)
    assert error.field == "access_url"


def test_blank_access_url_counts_as_missing():
    error = profile_error({"access_url": "  "})
    assert error.field == "access_url"


def test_authorization_code_needs_authorize_url_or_issuer():
    error = profile_error({"grant_type": "authorization_code"})
    assert error.field == "authorize_url"
    assert make_profile({"grant_type": "authorization_code", "authorize_url": AUTHORIZE_URL}).authorize_url


@pytest.mark.parametrize("name", ["access_params", "authorize_params"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("{not json", "not valid JSON near character 1"),
        ('{"a": 1', "not valid JSON near character 7"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('"text"', "expected a JSON object, got str"),
        ("42", "expected a JSON object, got int"),
        ([1, 2], "expected a JSON object, got list"),
        ("x" * (64 * 1024 + 1), "is longer than"),
    ],
)
def test_json_params_not_an_object(name, value, problem):
    error = profile_error({name: value})
    assert error.field == name
    assert problem in error.problem


def test_access_params_unknown_part():
    error = profile_error({"access_params": {"body": {}, "form": {"a": "b"}, "cookies": {}}})
    assert error.field == "access_params"
    assert "cookies, form" in error.problem


def test_access_params_part_not_an_object():
    error = profile_error({"access_params": {"body": ["a"]}})
    assert error.field == "access_params.body"


@pytest.mark.parametrize("nested", [{"a": 1}, [1], None])
def test_access_params_nested_values_rejected(nested):
    error = profile_error({"access_params": {"body": {"audience": nested}}})
    assert error.field == "access_params.body"
    assert "'audience'" in error.problem


@pytest.mark.parametrize("nested", [{"a": 1}, ["a"], None])
def test_authorize_params_nested_values_rejected(nested):
    error = profile_error({"authorize_params": json.dumps({"prompt": nested})})
    assert error.field == "authorize_params"


@pytest.mark.parametrize("part", ["query", "headers", "body"])
@pytest.mark.parametrize("pair", [("X-Ok", "a\r\nX-Evil: 1"), ("X-Bad\r\nX-Evil", "1"), ("X-Ok", "nul\0")])
def test_access_params_crlf_injection_rejected(part, pair):
    key, value = pair
    error = profile_error({"access_params": {part: {key: value}}})
    assert error.field == f"access_params.{part}"
    assert "line break or NUL" in error.problem


@pytest.mark.parametrize("pair", [("prompt", "a\nb"), ("pro\rmpt", "consent")])
def test_authorize_params_crlf_injection_rejected(pair):
    error = profile_error({"authorize_params": dict([pair])})
    assert error.field == "authorize_params"


@pytest.mark.parametrize("header", ["X Api", "X-Api:", "", "Ünïcode"])
def test_access_params_invalid_header_names(header):
    error = profile_error({"access_params": {"headers": {header: "v"}}})
    assert error.field == "access_params.headers"
    assert "not a valid HTTP header name" in error.problem


@pytest.mark.parametrize("header", ["X Api", "X-Api:"])
def test_api_headers_names_are_checked_as_the_per_field_check_does(header):
    from airflow_oauth_connector.profile import field_check

    error = profile_error({"api_headers": {header: "v"}})
    assert (error.field, error.problem) == ("api_headers", f"{header!r} is not a valid HTTP header name")
    with pytest.raises(ProfileError) as alone:
        field_check(CONN_ID, {"api_headers": json.dumps({header: "v"})}, "api_headers")()
    assert (alone.value.field, alone.value.problem) == (error.field, error.problem)
    assert dict(make_profile({"api_headers": {"X-Api": "v"}}).api_headers) == {"X-Api": "v"}


@pytest.mark.parametrize(
    ("value", "problem"),
    [("[" * 5000, "not valid JSON: nested too deeply"), ('["realmId"', "not valid JSON near character 10")],
)
def test_capture_callback_list_is_decoded_by_the_one_decoder(value, problem):
    error = profile_error({"capture_callback": value})
    assert (error.field, error.problem) == ("capture_callback", problem)
    assert make_profile({"capture_callback": '["realmId"]'}).capture_callback == ("realmId",)


@pytest.mark.parametrize("name", ["access_url", "authorize_url", "issuer_url"])
def test_endpoint_urls_must_be_https(name):
    error = profile_error({name: "http://auth.example.com/x"})
    assert error.field == name
    assert "https" in error.problem


@pytest.mark.parametrize("name", ["access_url", "authorize_url"])
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/token",
        "http://127.5.0.1/token",
        "http://[::1]:9000/token",
        "http://localhost:8000/token",
        "http://LOCALHOST/token",
        "http://auth.localhost/token",
    ],
)
def test_http_allowed_for_loopback(name, url):
    profile = make_profile({"grant_type": "authorization_code", "authorize_url": AUTHORIZE_URL, name: url})
    assert getattr(profile, name) == url


@pytest.mark.parametrize("url", ["auth.example.com/token", "ftp://auth.example.com/token", "https:///token", "/token"])
def test_endpoint_urls_must_be_absolute_http(url):
    error = profile_error({"access_url": url})
    assert error.field == "access_url"
    assert "absolute http(s) URL" in error.problem


@pytest.mark.parametrize(
    "host", ["api.example.com", "api.example.com/v1", "//api.example.com", "ftp://api.example.com"]
)
def test_base_url_needs_scheme(host):
    error = profile_error(host=host)
    assert error.field == "host"
    assert "scheme and host" in error.problem


@pytest.mark.parametrize("host", [None, "", "   "])
def test_base_url_required(host):
    error = profile_error(host=host)
    assert error.field == "host"
    assert "required" in error.problem


def test_base_url_http_rejected_unless_loopback():
    assert profile_error(host="http://api.example.com").field == "host"
    assert make_profile(host="http://127.0.0.1:8080/api").base_url == "http://127.0.0.1:8080/api"


@pytest.mark.parametrize(
    ("extra", "host", "port", "field"),
    [
        ({"access_url": "https://[::1/token"}, API_URL, None, "access_url"),
        ({}, "https://[api.example.com", None, "host"),
        ({}, "https://api.example.com:99999", 443, "host"),
        ({}, "https://api.example.com:99999", None, "host"),
        ({"access_url": "https://auth.example.com:abc/token"}, API_URL, None, "access_url"),
    ],
)
def test_malformed_urls_are_profile_errors(extra, host, port, field):
    error = profile_error(extra, host=host, port=port)
    assert error.field == field


@pytest.mark.parametrize("login", [None, "", "   "])
def test_missing_client_id(login):
    error = profile_error(login=login)
    assert error.field == "login"


@pytest.mark.parametrize("client_auth", [None, "header", "body"])
def test_missing_secret(client_auth):
    extra = {"client_auth": client_auth} if client_auth else {}
    error = profile_error(extra, password=None)
    assert error.field == "password"
    assert profile_error(extra, password="").field == "password"


@pytest.mark.parametrize("alias", ["none", "public"])
def test_public_client_needs_no_secret(alias):
    profile = make_profile({"client_auth": alias}, password=None)
    assert profile.client_secret is None
    assert profile.client_auth is ClientAuthMethod.NONE


@pytest.mark.parametrize(
    ("extra", "password", "problem"),
    [
        (
            {},
            "   ",  # blank counts as missing, as the Test button has always said
            "the client secret is required unless Client authentication is 'none' (public client) or "
            "'client_assertion_file'",
        ),
        (
            {"client_auth": "private_key_jwt"},
            None,
            "the private key (PEM or JWK) is required unless Client authentication is 'none' (public client) or "
            "'client_assertion_file'",
        ),
        (
            {"grant_type": "jwt_bearer"},
            " ",
            "the JWT bearer grant needs the service account's private key here (PEM, or a JSON key file)",
        ),
    ],
)
def test_the_secret_rule_reads_as_the_settings_check_does(extra, password, problem):
    from airflow_oauth_connector.validation import check_connection

    error = profile_error(extra, password=password)
    assert (error.field, error.problem) == ("password", problem)
    checked = check_connection(
        host=API_URL, login=CLIENT_ID, password=password, extra={"access_url": TOKEN_URL, **extra}
    )
    assert [(p.field, p.message) for p in checked] == [("password", problem)]


def test_client_assertion_file_needs_no_secret():
    profile = make_profile(
        {"client_auth": "client_assertion_file", "client_assertion_file": "/var/run/assertion"}, password=" "
    )
    assert profile.client_auth is ClientAuthMethod.CLIENT_ASSERTION_FILE


# --- secrets ------------------------------------------------------------------------------------------------


def test_repr_hides_secrets():
    profile = make_profile({"refresh_token": REFRESH})
    text = repr(profile)
    assert CLIENT_SECRET not in text
    assert REFRESH not in text
    assert CLIENT_ID in text
    assert CLIENT_SECRET not in str(profile)


@pytest.mark.parametrize(
    ("extra", "kwargs"),
    [
        ({"grant_type": "password", "refresh_token": REFRESH}, {}),
        ({"access_url": "http://x.example.com/t", "refresh_token": REFRESH}, {}),
        ({"refresh_token": REFRESH, "access_params": "{bad"}, {}),
        ({"refresh_token": REFRESH, "timeout": "x"}, {}),
        ({"refresh_token": REFRESH}, {"login": None}),
        ({"refresh_token": REFRESH}, {"host": "nope"}),
        ({"refresh_token": REFRESH, "header_name": "bad name"}, {}),
        ({"access_params": {"body": {"client_secret": {"nested": CLIENT_SECRET}}}}, {}),
        ({"access_params": {"body": {"client_secret": CLIENT_SECRET + "\r\n"}}}, {}),
        ({"access_params": json.dumps({"body": {"client_secret": CLIENT_SECRET}})[:-1]}, {}),
        ({"authorize_params": {"x": CLIENT_SECRET + "\n"}}, {}),
    ],
)
def test_error_messages_never_carry_secrets(extra, kwargs):
    error = profile_error(extra, **kwargs)
    for text in (str(error), repr(error), error.problem):
        assert CLIENT_SECRET not in text
        assert REFRESH not in text


# --- immutability and cache key -----------------------------------------------------------------------------


def test_profile_is_immutable():
    profile = make_profile()
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.client_secret = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.access_params.body = {}  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.retry.max_attempts = 9  # type: ignore[misc]


def test_cache_key_stable():
    first = make_profile({"scope": "a b"})
    again = make_profile({"scope": "a,b", "timeout": 5, "header_name": "X-Token", "refresh_token": REFRESH})
    assert first.cache_key == again.cache_key
    assert first.cache_key.startswith(f"{CONN_ID}:")
    assert len(first.cache_key.split(":", 1)[1]) == 16
    assert CLIENT_SECRET not in first.cache_key


@pytest.mark.parametrize(
    ("extra", "kwargs"),
    [
        ({}, {"password": "another-secret"}),
        ({"scope": "admin"}, {}),
        ({"access_url": "https://auth.example.com/other/token"}, {}),
        ({"issuer_url": "https://auth.example.com"}, {}),
        ({}, {"login": "other-client"}),
        ({"access_params": {"body": {"audience": "x"}}}, {}),
        ({"access_params": {"query": {"tenant": "x"}}}, {}),
        ({}, {"conn_id": "other_conn"}),
    ],
)
def test_cache_key_changes_with_credentials_and_endpoints(extra, kwargs):
    assert make_profile(extra, **kwargs).cache_key != make_profile().cache_key


# --- port, origin, loopback ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("https://api.example.com", 8443, "https://api.example.com:8443"),
        ("https://api.example.com/v1/", 8443, "https://api.example.com:8443/v1"),
        ("https://api.example.com:9000/v1", 8443, "https://api.example.com:9000/v1"),
        ("http://[::1]/v1", 8080, "http://[::1]:8080/v1"),
        ("https://api.example.com", None, "https://api.example.com"),
        ("https://api.example.com", 0, "https://api.example.com"),
    ],
)
def test_port_appended_to_base_url(host, port, expected):
    assert make_profile(host=host, port=port).base_url == expected


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://API.example.com/v1", "https://api.example.com:443"),
        ("http://example.com", "http://example.com:80"),
        ("https://example.com:8443/x?y", "https://example.com:8443"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
    ],
)
def test_origin_of(url, origin):
    assert origin_of(url) == origin


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("a.localhost", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback_host(host, loopback):
    assert is_loopback_host(host) is loopback


# --- from_connection ----------------------------------------------------------------------------------------


def test_from_connection():
    conn = Connection(
        conn_id="my_api",
        conn_type="oauth_connector",
        host="https://api.example.com/v1",
        port=8443,
        login="client-id",
        password=CLIENT_SECRET,
        extra=json.dumps(
            {
                "access_url": TOKEN_URL,
                "scope": "read write",
                "client_auth": "body",
                "access_params": {"body": {"audience": "aud"}},
                "retry_max_attempts": 2,
            }
        ),
    )
    profile = OAuthProfile.from_connection(conn)
    assert profile.conn_id == "my_api"
    assert profile.base_url == "https://api.example.com:8443/v1"
    assert profile.client_id == "client-id"
    assert profile.client_secret == CLIENT_SECRET
    assert profile.scope == "read write"
    assert profile.client_auth is ClientAuthMethod.BODY
    assert dict(profile.access_params.body) == {"audience": "aud"}
    assert profile.retry.max_attempts == 2


def test_from_connection_without_extra_names_access_url():
    conn = Connection(conn_id="bare", conn_type="oauth_connector", host=API_URL, login="id", password=CLIENT_SECRET)
    with pytest.raises(ProfileError) as info:
        OAuthProfile.from_connection(conn)
    assert info.value.conn_id == "bare"
    assert info.value.field == "access_url"


def test_from_connection_extra_not_an_object():
    conn = Connection(
        conn_id="c", conn_type="oauth_connector", host=API_URL, login="id", password=CLIENT_SECRET, extra="[1]"
    )
    with pytest.raises(ProfileError) as info:
        OAuthProfile.from_connection(conn)
    assert info.value.field == "extra"


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("[" * 5000, "not valid JSON: nested too deeply"),  # Airflow's extra_dejson raises RecursionError for it
        ("{oops", "not valid JSON near character 1"),  # Airflow's extra_dejson reads it as {}
        ("[1]", "expected a JSON object, got list"),
        (" " + "x" * (1024 * 1024), "is longer than 1048576 characters"),
    ],
)
def test_from_connection_names_an_extra_that_is_not_a_json_object(extra, problem):
    conn = Connection(conn_id="c", conn_type="oauth_connector", host=API_URL, login="id", password="pw", extra=extra)
    with pytest.raises(ProfileError) as info:
        OAuthProfile.from_connection(conn)
    assert (type(info.value), info.value.field, info.value.problem) == (ProfileError, "extra", problem)


def test_from_connection_reads_a_blank_extra_as_empty():
    conn = Connection(conn_id="c", conn_type="oauth_connector", host=API_URL, login="id", password="pw", extra="  ")
    with pytest.raises(ProfileError) as info:
        OAuthProfile.from_connection(conn)
    assert info.value.field == "access_url"  # the extra read as {}: what it lacks is named, not the extra


def test_from_connection_refuses_a_given_extra_that_is_not_a_mapping():
    conn = Connection(conn_id="c", conn_type="oauth_connector", host=API_URL, login="id", password="pw")
    with pytest.raises(ProfileError, match=r"Extra \(extra\): expected a JSON object, got list"):
        OAuthProfile.from_connection(conn, [("access_url", TOKEN_URL)])  # type: ignore[arg-type]


def test_client_certificate_for_mutual_tls():
    assert make_profile().cert is None
    assert make_profile(client_cert="/etc/certs/client.pem").cert == "/etc/certs/client.pem"
    assert make_profile(client_cert="/c.pem", client_key="/k.pem").cert == ("/c.pem", "/k.pem")
    with pytest.raises(ProfileError, match="client_key"):
        make_profile(client_key="/k.pem")


def test_tls_verification_is_on_by_default_and_can_be_turned_off():
    assert make_profile().verify is True
    assert make_profile(verify_tls=False).verify is False


# --- JWT client auth, token exchange, resource indicators, DPoP, PAR (issue 13) -----------------------------


RSA_PEM = rsa_private_pem()


def test_private_key_jwt_parses_the_key_once_and_keeps_it_out_of_repr():
    profile = make_profile({"client_auth": "private_key_jwt", "key_id": "k1"}, password=RSA_PEM)
    assert profile.signing_alg == "RS256"
    assert profile.key_id == "k1"
    assert profile.signing_key.is_private
    assert "BEGIN" not in repr(profile)
    assert "signing_key" not in repr(profile)


@pytest.mark.parametrize(
    ("extra", "password", "field", "problem"),
    [
        ({"client_auth": "private_key_jwt"}, "not a key", "password", "neither a PEM private key nor a JWK"),
        ({"client_auth": "private_key_jwt", "signing_alg": "ES256"}, RSA_PEM, "password", "needs an EC key"),
        ({"client_auth": "private_key_jwt", "signing_alg": "XS1"}, RSA_PEM, "signing_alg", "unsupported"),
        ({"client_auth": "private_key_jwt"}, None, "password", "private key (PEM or JWK) is required"),
        ({"client_auth": "client_secret_jwt"}, "Qz7-9xV", "password", "too short for HS256"),
        ({"client_auth": "client_secret_jwt", "signing_alg": "RS256"}, "k" * 40, "signing_alg", "HMAC"),
        ({"client_auth": "client_assertion_file"}, None, "client_assertion_file", "is required"),
        ({"grant_type": "token_exchange"}, CLIENT_SECRET, "subject_token_file", "needs the path"),
        ({"resource": "not-a-uri"}, CLIENT_SECRET, "resource", "absolute URI"),
        ({"resource": "https://api.example.com/#x"}, CLIENT_SECRET, "resource", "without a fragment"),
        ({"dpop": "maybe"}, CLIENT_SECRET, "dpop", "true or false"),
    ],
)
def test_issue13_fields_fail_with_the_field_named_and_no_secret(extra, password, field, problem):
    with pytest.raises(ProfileError) as info:
        make_profile(extra, password=password)
    assert info.value.field == field
    assert problem in str(info.value)
    assert "BEGIN" not in str(info.value)
    if password and password != "not a key":
        assert password not in str(info.value)


def test_client_assertion_file_needs_no_secret_and_token_exchange_defaults():
    profile = make_profile(
        {
            "client_auth": "client_assertion_file",
            "client_assertion_file": "/var/run/secrets/azure/tokens/azure-identity-token",
            "grant_type": "token_exchange",
            "subject_token_file": "/var/run/secrets/tokens/airflow",
            "resource": "https://api.example.com/ https://other.example.com/",
            "dpop": True,
            "par": "true",
        },
        password=None,
    )
    assert profile.client_secret is None
    assert profile.subject_token_type == "urn:ietf:params:oauth:token-type:jwt"
    assert profile.resource == ("https://api.example.com/", "https://other.example.com/")
    assert profile.dpop is True
    assert profile.par is True
    assert make_profile().par is False


def test_scoped_token_parameters_and_the_cache_key():
    def key(**sections: object) -> str:
        return make_profile({"access_params": {"body": {"audience": "a"}, **sections}}).cache_key

    plain = make_profile({"access_params": {"body": {"audience": "a"}}}).cache_key
    assert key(refresh={}, grant=None) == plain
    # the exchange's parameters apply once, at authorization: the token authorized already stays valid
    assert key(exchange={"body": {"x": "1"}}) == plain
    assert key(refresh={"body": {"x": "1"}}) != plain
    assert key(grant={"query": {"x": "1"}}) != plain


def test_new_fields_change_the_cache_key_only_when_set():
    assert make_profile().cache_key == make_profile({"dpop": False, "resource": ""}).cache_key
    assert make_profile().cache_key != make_profile({"dpop": True}).cache_key
    assert make_profile().cache_key != make_profile({"resource": "https://api.example.com/"}).cache_key


# --- encrypted private keys and Box's app config (the JWT bearer grant, private_key_jwt) ---------------------

PASSPHRASE = "Passphrase-Sentinel 42"
ENCRYPTED_PEM = rsa_private_pem(PASSPHRASE)
ENCRYPTED_TRADITIONAL_PEM = rsa_private_pem(PASSPHRASE, traditional=True)


def _jwt_profile(password: str, **extra: object) -> OAuthProfile:
    return make_profile({"grant_type": "jwt_bearer", **extra}, login="issuer-1", password=password)


@pytest.mark.parametrize("pem", [ENCRYPTED_PEM, ENCRYPTED_TRADITIONAL_PEM], ids=["pkcs8", "traditional"])
def test_an_encrypted_jwt_bearer_key_opens_with_the_passphrase_field(pem):
    profile = _jwt_profile(pem, jwt_key_passphrase=PASSPHRASE)
    assert profile.jwt is not None
    assert profile.jwt.signing_key.is_private
    assert profile.key_passphrase == PASSPHRASE
    assert PASSPHRASE in known_secrets(profile)
    assert PASSPHRASE not in repr(profile)
    assert "BEGIN" not in repr(profile)


def test_private_key_jwt_opens_an_encrypted_key_with_the_passphrase_field():
    profile = make_profile(
        {"client_auth": "private_key_jwt", "jwt_key_passphrase": PASSPHRASE}, password=ENCRYPTED_TRADITIONAL_PEM
    )
    assert profile.signing_key.is_private
    assert PASSPHRASE in known_secrets(profile)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"grant_type": "jwt_bearer", "jwt_key_passphrase": "not it"}, "could not decrypt the private key with the"),
        ({"grant_type": "jwt_bearer"}, "the private key is encrypted: its passphrase is required"),
        ({"client_auth": "private_key_jwt", "jwt_key_passphrase": "not it"}, "could not decrypt the private key"),
        ({"client_auth": "private_key_jwt"}, "its passphrase is required"),
        ({"grant_type": "jwt_bearer", "jwt_key_passphrase": 42}, "expected text"),
    ],
)
def test_a_missing_or_wrong_passphrase_is_a_labelled_problem_of_its_field(extra, problem):
    error = profile_error(extra, login="issuer-1", password=ENCRYPTED_PEM)
    assert error.field == "jwt_key_passphrase"
    assert problem in error.problem
    settings = {"access_url": TOKEN_URL, **extra}
    problems = check_connection(host=API_URL, login="issuer-1", password=ENCRYPTED_PEM, extra=settings)
    assert [(p.field, p.label) for p in problems] == [("jwt_key_passphrase", "Private key passphrase")]
    assert str(problems[0]).startswith("Private key passphrase (jwt_key_passphrase): ")
    for text in (str(error), str(problems[0])):
        assert "not it" not in text
        assert PASSPHRASE not in text
        assert ENCRYPTED_PEM.splitlines()[1] not in text


def test_a_passphrase_keeps_its_spaces():
    pem = rsa_private_pem(" padded ")
    assert _jwt_profile(pem, jwt_key_passphrase=" padded ").key_passphrase == " padded "


def test_a_box_app_config_gives_client_id_secret_kid_subject_and_passphrase():
    config = box_app_config(ENCRYPTED_PEM, passphrase=PASSPHRASE)
    profile = make_profile({"grant_type": "jwt_bearer", "client_auth": "body"}, login=None, password=config)
    assert profile.client_id == "box-client-id"
    assert profile.client_secret == "box-client-secret-Sentinel"
    assert profile.jwt is not None
    assert (profile.jwt.issuer, profile.jwt.subject, profile.jwt.key_id) == ("box-client-id", "1234567", "kid-box-1")
    assert profile.jwt.private_key == ENCRYPTED_PEM
    assert profile.key_passphrase == PASSPHRASE
    assert {"box-client-secret-Sentinel", PASSPHRASE} <= set(known_secrets(profile))
    assert "Sentinel" not in repr(profile)


def test_fields_win_over_the_box_app_config():
    config = box_app_config(ENCRYPTED_PEM, passphrase="stale")
    profile = make_profile(
        {"grant_type": "jwt_bearer", "jwt_subject": "987", "jwt_key_id": "kid-2", "jwt_key_passphrase": PASSPHRASE},
        login=None,
        password=config,
    )
    assert profile.jwt is not None
    assert (profile.jwt.subject, profile.jwt.key_id, profile.key_passphrase) == ("987", "kid-2", PASSPHRASE)


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ('{"boxAppSettings": {"clientID": "c", "appAuth": {"publicKeyID": "k"}}}', "no PEM 'boxAppSettings.appAuth"),
        ('{"boxAppSettings": {"clientID": "c"}}', "no PEM 'boxAppSettings.appAuth.privateKey'"),
    ],
)
def test_a_box_app_config_without_a_key_names_what_is_missing(config, problem):
    error = profile_error({"grant_type": "jwt_bearer"}, login=None, password=config)
    assert error.field == "password"
    assert problem in error.problem


# -- renew_on: API answers besides a 401 that mean the token expired ------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ({}, None),
        ({"statuses": [403]}, RenewSignal(statuses=frozenset({403}))),
        (
            '{"statuses": [200], "path": " error ", "values": ["token_expired", "invalid_auth"]}',  # JSON text
            RenewSignal(statuses=frozenset({200}), path="error", values=frozenset({"token_expired", "invalid_auth"})),
        ),
        (
            {"path": "expired", "values": [True, 40001]},
            RenewSignal(path="expired", values=frozenset({"true", "40001"})),
        ),
    ],
)
def test_renew_on_is_parsed_into_the_profile(value, expected):
    assert make_profile(renew_on=value).renew_on == expected


@pytest.mark.parametrize(
    ("value", "field", "problem"),
    [
        ("[403]", "renew_on", "expected a JSON object, got list"),
        ({"status": [403]}, "renew_on", "unknown key(s) status; expected an object with 'statuses', 'path', 'values'"),
        ({"statuses": 403}, "renew_on.statuses", "expected a list of HTTP statuses, e.g. [403]"),
        ({"statuses": []}, "renew_on.statuses", "expected a list of HTTP statuses, e.g. [403]"),
        ({"statuses": ["403"]}, "renew_on.statuses", '"403" is not an HTTP status 200-299 or 400-599 (e.g. 403)'),
        ({"statuses": [302]}, "renew_on.statuses", "302 is not an HTTP status 200-299 or 400-599 (e.g. 403)"),
        ({"statuses": [True]}, "renew_on.statuses", "true is not an HTTP status 200-299 or 400-599 (e.g. 403)"),
        ({"path": "error"}, "renew_on.values", 'expected a list of what the value at "path" is then'),
        ({"values": ["x"]}, "renew_on.path", 'expected a dotted path into the JSON answer, e.g. "error"'),
        ({"path": "error", "values": [{"x": 1}]}, "renew_on.values", "each value must be a string, number or boolean"),
        ({"statuses": None}, "renew_on", "give 'statuses' (e.g. [403]) and/or 'path' with 'values'"),
    ],
)
def test_a_bad_renew_on_names_its_part(value, field, problem):
    with pytest.raises(ProfileError) as info:
        field_check(CONN_ID, {"renew_on": value}, "renew_on", kind="json")()
    assert (info.value.field, info.value.problem[: len(problem)]) == (field, problem)


def test_renew_on_leaves_the_cache_key_alone():
    assert make_profile().cache_key == make_profile(renew_on={"statuses": [403]}).cache_key


def test_from_connection_registers_the_box_config_secrets_with_the_masker(monkeypatch):
    import airflow.sdk.log

    masked: list[object] = []
    monkeypatch.setattr(airflow.sdk.log, "mask_secret", lambda value, name=None: masked.append(value))
    config = box_app_config(ENCRYPTED_PEM, passphrase=PASSPHRASE)
    conn = Connection(
        conn_id="box",
        conn_type="oauth_connector",
        password=config,
        extra=json.dumps({"provider": "box_jwt"}),
    )
    profile = OAuthProfile.from_connection(conn)
    assert profile.client_secret == "box-client-secret-Sentinel"
    assert {"box-client-secret-Sentinel", PASSPHRASE} <= {v for v in masked if isinstance(v, str)}


@pytest.mark.parametrize("client_auth", ["header", "body"])
def test_a_jwt_bearer_key_without_a_client_secret_sends_no_empty_one(client_auth):
    """Airflow's form stores client authentication "header" when left alone: a plain key has no secret to send."""
    profile = _jwt_profile(rsa_private_pem(), client_auth=client_auth)
    assert profile.client_secret is None
    assert profile.client_auth is ClientAuthMethod.NONE


def test_a_jwt_bearer_key_file_with_its_client_secret_keeps_its_client_authentication():
    profile = _jwt_profile(box_app_config(rsa_private_pem()), client_auth="body")
    assert profile.client_secret
    assert profile.client_auth is ClientAuthMethod.BODY


@pytest.mark.parametrize(
    ("scope", "openid"),
    [(None, False), ("read write", False), ("openid", True), ("offline_access openid", True), ("openidx", False)],
)
def test_openid_is_the_scope_asking_for_openid_connect(scope: str | None, openid: bool) -> None:
    assert make_profile(scope=scope).openid is openid
