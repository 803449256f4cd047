"""Airflow 3.1's form (WTForms widgets from the hook) says what Airflow 3.2+'s ``conn-fields`` say: one source."""

from __future__ import annotations

import subprocess
import sys
from typing import Any
from unittest.mock import MagicMock

import pytest

from airflow_oauth_connector.connection_form import field_behaviour, widget_description
from airflow_oauth_connector.fields import BY_NAME, conn_fields, ui_field_behaviour
from airflow_oauth_connector.hooks import OAuthConnectorHook

#: What get_provider_info() declares for the connection form (built when asked, not at import).
CONN_FIELDS = conn_fields()
UI_FIELD_BEHAVIOUR = ui_field_behaviour()


@pytest.fixture
def served_as_by_airflow_31(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """The widgets as Airflow's api-server serves them without WTForms / FAB installed (its own stand-ins)."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService as Meta

    modules = {name: MagicMock() for name in ("wtforms", "wtforms.validators", "flask_babel", "flask_appbuilder")}
    modules["flask_appbuilder.fieldwidgets"] = MagicMock()
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    wtforms = modules["wtforms"]
    wtforms.StringField, wtforms.IntegerField = Meta.MockStringField, Meta.MockIntegerField
    wtforms.PasswordField, wtforms.BooleanField = Meta.MockPasswordField, Meta.MockBooleanField
    modules["wtforms.validators"].Optional = Meta.MockOptional
    modules["wtforms.validators"].any_of = Meta.MockEnum
    modules["flask_babel"].lazy_gettext = str
    modules["flask_appbuilder.fieldwidgets"].BS3TextFieldWidget = Meta.MockAnyWidget
    modules["flask_appbuilder.fieldwidgets"].BS3PasswordFieldWidget = Meta.MockAnyWidget
    return {name: widget.param.dump() for name, widget in OAuthConnectorHook.get_connection_form_widgets().items()}


def test_widgets_are_the_conn_fields_in_the_same_order(served_as_by_airflow_31):
    assert list(served_as_by_airflow_31) == list(CONN_FIELDS)


@pytest.mark.parametrize("name", list(CONN_FIELDS))
def test_widget_says_what_conn_fields_say(served_as_by_airflow_31, name):
    declared, served = CONN_FIELDS[name], served_as_by_airflow_31[name]
    schema = served["schema"]
    assert schema["title"] == BY_NAME[name].form_label  # 3.1 marks no field required: the label says it
    assert declared["label"] in (BY_NAME[name].form_label, BY_NAME[name].label)
    assert served["description"] == widget_description(BY_NAME[name])
    assert served["description"].startswith(declared["description"])
    assert served["value"] == declared["schema"].get("default")
    assert schema.get("enum") == declared["schema"].get("enum")
    assert (schema.get("format") == "password") == (declared["schema"].get("format") == "password")
    declared_type = declared["schema"]["type"]
    kind = declared_type if isinstance(declared_type, str) else declared_type[0]
    assert schema["type"] == [{"boolean": "boolean", "integer": "integer"}.get(kind, "string"), "null"]


def test_a_choice_lists_its_values_where_31_has_no_dropdown_labels():
    assert widget_description(BY_NAME["client_auth"]).endswith(
        "Values: header, body, none, private_key_jwt, client_secret_jwt, client_assertion_file."
    )
    assert widget_description(BY_NAME["scope"]) == BY_NAME["scope"].form_description


def test_standard_fields_behaviour_in_the_hook_methods_spelling():
    assert OAuthConnectorHook.get_ui_field_behaviour() == field_behaviour()
    assert field_behaviour() == {
        "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
        "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
        "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
    }


def test_the_form_modules_import_neither_wtforms_nor_airflow():
    # Airflow reads get_provider_info while it configures itself; 3.1 builds the widgets lazily.
    code = (
        "import sys, airflow_oauth_connector.get_provider_info, airflow_oauth_connector.connection_form; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('wtforms', 'flask_appbuilder', 'airflow', 'yaml')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_the_provider_info_call_imports_no_airflow():
    # Airflow calls get_provider_info while it is still being imported: the provider dropdown's labels are read
    # from the preset files then (YAML), with no Airflow import (nor the exceptions module, which needs Airflow).
    code = (
        "import sys, airflow_oauth_connector.get_provider_info as g; g.get_provider_info(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('wtforms', 'flask_appbuilder', 'airflow') "
        "or m == 'airflow_oauth_connector.exceptions'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
