"""RFC 7523 client authentication (private_key_jwt, client_secret_jwt, federated assertion file) and RFC 8693
token exchange against oidc-provider, with the tokens used on its protected API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from airflow_oauth_connector.exceptions import ClientAssertionError, InvalidClientError
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.token_client import TokenClient
from tests.support.oidc import OidcServer, private_pem

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def profile(server: OidcServer, client: str, password: str | None, **extra: object) -> OAuthProfile:
    return OAuthProfile.from_fields(
        f"oidc_{client}",
        host=server.api,
        login=server.client(client)["client_id"],
        password=password,
        extra={"issuer_url": server.issuer, "scope": "api:read", **extra},
    )


def call_api(server: OidcServer, access_token: str) -> dict[str, object]:
    response = requests.get(f"{server.api}/items", headers={"Authorization": f"Bearer {access_token}"}, timeout=10)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


pem = private_pem


def test_private_key_jwt_rs256_with_a_pem_key(oidc: OidcServer) -> None:
    token = TokenClient(
        profile(oidc, "pkjwt_rs", pem(oidc.keys["pkjwt_rs"]), client_auth="private_key_jwt", key_id="rs-1")
    ).client_credentials()
    assert call_api(oidc, token.access_token)["client_id"] == "cc-pkjwt-rs"
    assert oidc.stats()["token"]["cc-pkjwt-rs client_credentials ok"] == 1


def test_private_key_jwt_es256_with_a_jwk_and_its_kid(oidc: OidcServer) -> None:
    jwk = {**oidc.keys["pkjwt_es"].as_dict(private=True), "kid": "es-1"}
    p = profile(oidc, "pkjwt_es", json.dumps(jwk), client_auth="private_key_jwt", signing_alg="ES256")
    assert p.key_id == "es-1"
    client = TokenClient(p)
    first, second = client.client_credentials(), client.client_credentials()  # a new jti each time
    assert first.access_token != second.access_token
    assert call_api(oidc, second.access_token)["client_id"] == "cc-pkjwt-es"


def test_private_key_jwt_with_the_wrong_key_is_refused_by_the_server(oidc: OidcServer) -> None:
    wrong = pem(oidc.keys["workload"])  # a valid RSA key, not the one registered for this client
    with pytest.raises(InvalidClientError) as info:
        TokenClient(profile(oidc, "pkjwt_rs", wrong, client_auth="private_key_jwt")).client_credentials()
    assert "BEGIN" not in str(info.value)


def test_client_secret_jwt(oidc: OidcServer) -> None:
    c = oidc.client("secretjwt")
    token = TokenClient(
        profile(oidc, "secretjwt", c["client_secret"], client_auth="client_secret_jwt")
    ).client_credentials()
    assert call_api(oidc, token.access_token)["client_id"] == "cc-secret-jwt"


def test_client_assertion_file_is_read_at_every_token_request(oidc: OidcServer, tmp_path: Path) -> None:
    path = tmp_path / "assertion.jwt"
    path.write_text(oidc.federated_assertion())
    client = TokenClient(
        profile(oidc, "federated", None, client_auth="client_assertion_file", client_assertion_file=str(path))
    )
    assert call_api(oidc, client.client_credentials().access_token)["client_id"] == "cc-federated"
    # The platform rotates the file; the next token request must send the new assertion (the server
    # refuses a replayed jti, so re-sending the first one would fail).
    path.write_text(oidc.federated_assertion() + "\n")
    assert call_api(oidc, client.client_credentials().access_token)["client_id"] == "cc-federated"
    assert oidc.stats()["token"]["cc-federated client_credentials ok"] == 2


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "no such file"), ("", "empty"), ("not-a-jwt", "does not hold a JWT"), ("expired", "expired at")],
)
def test_client_assertion_file_problems_fail_before_any_request(
    oidc: OidcServer, tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "assertion.jwt"
    if content == "expired":
        content = oidc.federated_assertion(lifetime=-60)
    if content is not None:
        path.write_text(content)
    client = TokenClient(
        profile(oidc, "federated", None, client_auth="client_assertion_file", client_assertion_file=str(path))
    )
    with pytest.raises(ClientAssertionError) as info:
        client.client_credentials()
    assert info.value.field == "client_assertion_file"
    assert problem in str(info.value)
    if content:
        assert content not in str(info.value)
    assert oidc.stats()["token"].get("requests", 0) == 0


def test_token_exchange_of_a_workload_token(oidc: OidcServer, tmp_path: Path) -> None:
    path = tmp_path / "sa-token"
    path.write_text(oidc.workload_token())
    c = oidc.client("exchanger")
    client = TokenClient(
        profile(
            oidc,
            "exchanger",
            c["client_secret"],
            grant_type="token_exchange",
            subject_token_file=str(path),
            audience=oidc.resource,
            requested_token_type="urn:ietf:params:oauth:token-type:access_token",
        )
    )
    answer = call_api(oidc, client.token_exchange().access_token)
    assert answer["act"] == {"sub": "system:serviceaccount:data:airflow-worker", "iss": "https://workload-issuer.test"}
    path.write_text(oidc.workload_token(sub="system:serviceaccount:data:other"))  # rotated: read again
    answer = call_api(oidc, client.token_exchange().access_token)
    assert answer["act"]["sub"] == "system:serviceaccount:data:other"  # type: ignore[index]


def test_token_exchange_with_private_key_jwt_and_resource(oidc: OidcServer, tmp_path: Path) -> None:
    path = tmp_path / "sa-token"
    path.write_text(oidc.workload_token())
    p = profile(
        oidc,
        "exchanger_jwt",
        pem(oidc.keys["pkjwt_rs"]),
        client_auth="private_key_jwt",
        grant_type="token_exchange",
        subject_token_file=str(path),
        resource=oidc.resource,
    )
    assert call_api(oidc, TokenClient(p).token_exchange().access_token)["client_id"] == "exchanger-jwt"


def test_token_exchange_with_an_untrusted_subject_token_is_refused(oidc: OidcServer, tmp_path: Path) -> None:
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    path = tmp_path / "sa-token"
    path.write_text(jwt.encode({"alg": "RS256"}, {"iss": "https://elsewhere", "sub": "x"}, RSAKey.generate_key(2048)))
    c = oidc.client("exchanger")
    p = profile(oidc, "exchanger", c["client_secret"], grant_type="token_exchange", subject_token_file=str(path))
    with pytest.raises(Exception, match="invalid_grant") as info:
        TokenClient(p).token_exchange()
    assert path.read_text() not in str(info.value)
