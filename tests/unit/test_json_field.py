"""json_field: the one decoder of settings written as JSON (bounded, every failure a labelled ProfileError)."""

from __future__ import annotations

import json

import pytest

from airflow_oauth_connector.exceptions import ProfileError
from airflow_oauth_connector.json_field import MAX_FIELD_CHARS, json_object, json_problem, parse_json


def refused(value: object, **kwargs: int) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        json_object("crm", "access_params", value, **kwargs)
    return info.value


def test_a_mapping_is_returned_as_it_is_and_blank_is_empty():
    given = {"query": {"a": "1"}}
    assert json_object("crm", "access_params", given) is given
    assert json_object("crm", "access_params", None) == {}
    assert json_object("crm", "access_params", "") == {}


def test_json_text_of_an_object_is_decoded():
    given = {"query": {"a": "1"}, "body": {"n": 2}}
    assert json_object("crm", "access_params", json.dumps(given)) == given


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("{not json", "not valid JSON near character 1"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('"text"', "expected a JSON object, got str"),
        (42, "expected a JSON object, got int"),
        ("[" * 5000, "not valid JSON: nested too deeply"),  # json.loads raises RecursionError
        ("[" * 100_000, f"is longer than {MAX_FIELD_CHARS} characters"),  # refused before it is decoded
    ],
)
def test_every_failure_is_a_profile_error_named_by_the_fields_label(value, problem):
    error = refused(value)
    assert (error.conn_id, error.field, error.problem) == ("crm", "access_params", problem)
    assert str(error) == f"Connection 'crm': Token parameters (access_params): {problem}"


def test_the_bound_is_the_callers():
    text = json.dumps({"a": "x" * 100})
    assert refused(text, max_chars=50).problem == "is longer than 50 characters"
    assert json_object("crm", "extra", text, max_chars=len(text)) == {"a": "x" * 100}


def test_parse_json_returns_any_value():
    assert parse_json("crm", "capture_callback", '["realmId"]') == ["realmId"]
    with pytest.raises(
        ProfileError, match=r"Captured callback parameters \(capture_callback\): not valid JSON near character 1"
    ):
        parse_json("crm", "capture_callback", "[")


def test_json_problem_says_where_decoding_stopped():
    with pytest.raises(json.JSONDecodeError) as info:
        json.loads('{"a": 1')
    assert json_problem(info.value) == "not valid JSON near character 7"
    assert json_problem(RecursionError()) == "not valid JSON: nested too deeply"
    assert json_problem(ValueError("no position")) == "not valid JSON"
