"""RFC 8693 token exchange: the subject token is read from its file at every request; a bad file names the field."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from airflow_oauth_connector.exceptions import ClientAssertionError
from airflow_oauth_connector.grants.token_exchange import TOKEN_EXCHANGE_GRANT, token_exchange_params
from airflow_oauth_connector.profile import JWT_TOKEN_TYPE
from tests.support.builders import make_jwt, make_profile


def _profile(path: Path, **extra: object):
    return make_profile({"grant_type": "token_exchange", "subject_token_file": str(path), **extra})


def test_the_subject_token_is_exchanged_with_the_rfc_8693_parameters(tmp_path: Path) -> None:
    path = tmp_path / "token"
    subject = make_jwt()
    path.write_text(subject + "\n")
    params = token_exchange_params(_profile(path))
    assert params == {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token": subject,
        "subject_token_type": JWT_TOKEN_TYPE,
    }


def test_audience_requested_type_and_scope_are_sent_when_set(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(make_jwt())
    profile = _profile(
        path,
        audience="https://api.example.com",
        requested_token_type="urn:ietf:params:oauth:token-type:access_token",
        scope="read",
    )
    params = token_exchange_params(profile)
    assert params["audience"] == "https://api.example.com"
    assert params["requested_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert params["scope"] == "read"


def test_the_file_is_read_again_at_every_request(tmp_path: Path) -> None:
    path = tmp_path / "token"
    profile = _profile(path)
    first, second = make_jwt(n=1), make_jwt(n=2)
    path.write_text(first)
    assert token_exchange_params(profile)["subject_token"] == first
    path.write_text(second)  # the workload's token rotated
    assert token_exchange_params(profile)["subject_token"] == second


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "no such file"), ("", "the file is empty"), ("not-a-jwt", "does not hold a JWT")],
)
def test_a_bad_subject_token_file_names_the_field_and_not_its_content(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ClientAssertionError, match=problem) as caught:
        token_exchange_params(_profile(path))
    assert "subject_token_file" in str(caught.value)
    if content:
        assert content not in str(caught.value)


def test_an_expired_subject_token_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(make_jwt(exp=int(time.time()) - 60))
    with pytest.raises(ClientAssertionError, match="subject_token_file"):
        token_exchange_params(_profile(path))
