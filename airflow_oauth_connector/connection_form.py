"""The ``oauth_connector`` form for Airflow 3.1: WTForms widgets built from the declarative ``conn-fields``.

Airflow 3.2+ reads the form from the provider info (``conn-fields`` / ``ui-field-behaviour`` in
:mod:`airflow_oauth_connector.get_provider_info`). Airflow 3.1's providers manager builds it from the hook's
``get_connection_form_widgets()`` / ``get_ui_field_behaviour()`` instead; its api-server stands in mocks
for WTForms and Flask-AppBuilder, so these imports work without them installed. The one source of the
fields stays ``CONN_FIELDS``: 3.1 can express text, password, boolean and choice fields (URL and multiline
formats become plain text fields there).
"""

from __future__ import annotations

from typing import Any

from airflow_oauth_connector.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR


def form_widgets() -> dict[str, Any]:
    """``{field name: WTForms field}`` for every ``conn-fields`` entry, in the same order."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, PasswordField, StringField
    from wtforms.validators import Optional, any_of

    widgets: dict[str, Any] = {}
    for name, spec in CONN_FIELDS.items():
        schema = spec["schema"]
        label = lazy_gettext(spec["label"])
        description = spec.get("description", "")
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if "boolean" in kinds:
            widgets[name] = BooleanField(label, description=description, default=schema.get("default"))
        elif schema.get("format") == "password":
            widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), description=description)
        else:
            validators: list[Any] = [Optional()]
            if "enum" in schema:
                validators.append(any_of(list(schema["enum"])))
            widgets[name] = StringField(
                label,
                widget=BS3TextFieldWidget(),
                validators=validators,
                description=description,
                default=schema.get("default"),
            )
    return widgets


def field_behaviour() -> dict[str, Any]:
    """The standard fields' behaviour (hidden, relabelled, placeholders) in the hook method's spelling.

    The same content as ``ui-field-behaviour``; the hook method spells its key ``hidden_fields``.
    """
    return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}
