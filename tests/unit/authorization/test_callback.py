"""The one redirect parser of the CLI and the plugin: state, provider errors, missing code, all parameters kept."""

from __future__ import annotations

import pytest

from airflow_oauth_connector.authorization.callback import params_from_url, parse_callback
from airflow_oauth_connector.exceptions import AuthorizationError

STATE = "expected-state-0123456789"


def code_from_redirect(params: dict[str, str], expected_state: str) -> str:
    return parse_callback(params, expected_state=expected_state).code


def test_code_from_redirect() -> None:
    assert code_from_redirect({"code": "abc", "state": STATE}, STATE) == "abc"
    with pytest.raises(AuthorizationError, match="'state' does not match"):
        code_from_redirect({"code": "abc", "state": "other"}, STATE)
    with pytest.raises(AuthorizationError, match="'state' does not match"):
        code_from_redirect({"code": "abc"}, STATE)
    with pytest.raises(AuthorizationError, match=r"access_denied.*denied at the consent step"):
        code_from_redirect({"error": "access_denied", "state": STATE}, STATE)
    with pytest.raises(AuthorizationError, match="neither a 'code' nor an 'error'"):
        code_from_redirect({"state": STATE}, STATE)
    with pytest.raises(AuthorizationError) as info:
        code_from_redirect({"error": "bad\x1b[31m", "error_description": "x\ny", "state": STATE}, STATE)
    assert "\x1b" not in str(info.value)
    assert "\n" not in str(info.value)


def test_every_parameter_is_kept_and_none_is_in_the_repr() -> None:
    answer = parse_callback({"code": "CODE-SENTINEL", "state": STATE, "realmId": "123"}, expected_state=STATE)
    assert dict(answer.params) == {"code": "CODE-SENTINEL", "state": STATE, "realmId": "123"}
    assert "CODE-SENTINEL" not in repr(answer)


def test_without_an_expected_state_the_caller_matched_it() -> None:
    assert parse_callback({"code": "c"}).code == "c"  # the plugin matches state server-side first
    with pytest.raises(AuthorizationError) as info:
        parse_callback({"error": "access_denied", "error_description": "user said no"})
    assert info.value.error == "access_denied"
    assert "user said no" in str(info.value)
    with pytest.raises(AuthorizationError, match="refused the authorization: server_error; nothing was stored"):
        parse_callback({"error": "server_error"})


def test_pasted_url() -> None:
    assert params_from_url(" https://x/callback?code=C&state=s&realmId=9\n") == {
        "code": "C",
        "state": "s",
        "realmId": "9",
    }
    with pytest.raises(AuthorizationError, match="not a redirect URL"):
        params_from_url("just-a-code")


def test_a_profile_may_name_its_code_parameter() -> None:
    answer = parse_callback(
        {"spapi_oauth_code": "C", "state": STATE}, expected_state=STATE, code_param="spapi_oauth_code"
    )
    assert answer.code == "C"
    with pytest.raises(AuthorizationError, match="neither a 'spapi_oauth_code' nor an 'error'"):
        parse_callback({"code": "C", "state": STATE}, expected_state=STATE, code_param="spapi_oauth_code")
