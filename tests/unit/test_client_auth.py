"""Client authentication on token requests."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, quote_plus

import pytest

from airflow_oauth_connector.client_auth import CLIENT_AUTH_METHODS, apply_client_auth
from airflow_oauth_connector.profile import ClientAuthMethod
from tests.support.builders import CLIENT_SECRET, TOKEN_URL

BODY = "grant_type=client_credentials&scope=read"


def basic_credentials(headers: dict[str, str]) -> str:
    scheme, _, value = headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(value).decode("latin-1")


def test_every_method_registered():
    assert set(CLIENT_AUTH_METHODS) == set(ClientAuthMethod)


def test_header_method_uses_http_basic():
    url, headers, body = apply_client_auth(
        ClientAuthMethod.HEADER, "client-id", CLIENT_SECRET, TOKEN_URL, {"Accept": "application/json"}, BODY
    )
    assert url == TOKEN_URL
    assert basic_credentials(headers) == f"client-id:{CLIENT_SECRET}"
    assert headers["Accept"] == "application/json"
    assert body == BODY
    assert CLIENT_SECRET not in body
    assert "client_secret" not in body
    assert "client_id" not in body


def test_body_method_puts_credentials_in_form():
    url, headers, body = apply_client_auth(ClientAuthMethod.BODY, "client-id", CLIENT_SECRET, TOKEN_URL, {}, BODY)
    assert url == TOKEN_URL
    assert "Authorization" not in headers
    form = parse_qs(body)
    assert form == {
        "grant_type": ["client_credentials"],
        "scope": ["read"],
        "client_id": ["client-id"],
        "client_secret": [CLIENT_SECRET],
    }


def test_body_method_form_encodes_special_characters():
    _, _, body = apply_client_auth(ClientAuthMethod.BODY, "id&x=1", "p+s/=%&", TOKEN_URL, {}, "")
    assert parse_qs(body) == {"client_id": ["id&x=1"], "client_secret": ["p+s/=%&"]}


def test_none_method_puts_only_client_id():
    url, headers, body = apply_client_auth(ClientAuthMethod.NONE, "public-id", None, TOKEN_URL, {}, BODY)
    assert url == TOKEN_URL
    assert "Authorization" not in headers
    form = parse_qs(body)
    assert form["client_id"] == ["public-id"]
    assert "client_secret" not in form
    assert form["grant_type"] == ["client_credentials"]


def test_none_method_never_sends_a_secret_it_was_given():
    _, headers, body = apply_client_auth(ClientAuthMethod.NONE, "public-id", CLIENT_SECRET, TOKEN_URL, {}, BODY)
    assert CLIENT_SECRET not in body
    assert "Authorization" not in headers


def test_header_method_returns_plain_dict():
    headers: dict[str, str] = {}
    _, new_headers, _ = apply_client_auth(ClientAuthMethod.HEADER, "a", "b", TOKEN_URL, headers, "")
    assert "Authorization" in new_headers
    assert isinstance(new_headers, dict)


def test_header_method_form_encodes_credentials_rfc6749_2_3_1():
    _, headers, _ = apply_client_auth(ClientAuthMethod.HEADER, "id:1", "p+s%2F", TOKEN_URL, {}, "")
    assert basic_credentials(headers) == f"{quote_plus('id:1')}:{quote_plus('p+s%2F')}"


# --- JWT client assertions (RFC 7523 / OIDC Core 9) -------------------------------------------------------


def _assertion_claims(body: str, key: object) -> dict[str, object]:
    from joserfc import jwt

    form = parse_qs(body)
    assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    (assertion,) = form["client_assertion"]
    return dict(jwt.decode(assertion, key).claims)


def test_private_key_jwt_claims_follow_rfc7523_and_oidc_core_9():
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", private=True)
    _, headers, body = apply_client_auth(
        ClientAuthMethod.PRIVATE_KEY_JWT,
        "client-id",
        key,
        TOKEN_URL + "?tenant=1",
        {},
        BODY,
        signing_alg="ES256",
        key_id="kid-1",
        audience=TOKEN_URL,
    )
    claims = _assertion_claims(body, key)
    assert claims["iss"] == claims["sub"] == "client-id"
    assert claims["aud"] == TOKEN_URL
    assert isinstance(claims["exp"], int)
    assert isinstance(claims["iat"], int)
    assert claims["exp"] > claims["iat"]
    assert claims["jti"]
    assert "Authorization" not in headers
    from joserfc import jws

    assert jws.extract_compact(parse_qs(body)["client_assertion"][0].encode()).protected == {
        "alg": "ES256",
        "typ": "JWT",
        "kid": "kid-1",
    }


def test_every_assertion_has_a_new_jti():
    from joserfc.jwk import OctKey

    jtis = set()
    for _ in range(3):
        _, _, body = apply_client_auth(
            ClientAuthMethod.CLIENT_SECRET_JWT, "client-id", "k" * 32, TOKEN_URL, {}, "", audience=TOKEN_URL
        )
        jtis.add(_assertion_claims(body, OctKey.import_key("k" * 32))["jti"])
    assert len(jtis) == 3


def test_client_assertion_file_sends_the_file_and_client_id(tmp_path):
    from joserfc import jwt
    from joserfc.jwk import OctKey

    path = tmp_path / "assertion"
    assertion = jwt.encode({"alg": "HS256"}, {"iss": "x"}, OctKey.import_key("k" * 32))
    path.write_text(assertion)
    _, _, body = apply_client_auth(
        ClientAuthMethod.CLIENT_ASSERTION_FILE, "client-id", None, TOKEN_URL, {}, BODY, assertion_file=str(path)
    )
    form = parse_qs(body)
    assert form["client_id"] == ["client-id"]
    assert form["client_assertion"] == [assertion]
    assert form["grant_type"] == ["client_credentials"]


def test_client_assertion_file_problem_names_the_field(tmp_path):
    from airflow_oauth_connector.exceptions import ClientAssertionError

    with pytest.raises(ClientAssertionError) as info:
        apply_client_auth(
            ClientAuthMethod.CLIENT_ASSERTION_FILE,
            "client-id",
            None,
            TOKEN_URL,
            {},
            BODY,
            assertion_file=str(tmp_path / "missing"),
            conn_id="c1",
        )
    assert info.value.field == "client_assertion_file"
    assert "no such file" in str(info.value)
