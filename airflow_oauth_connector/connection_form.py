"""The ``oauth_connector`` form for Airflow 3.1: WTForms widgets built from :mod:`airflow_oauth_connector.fields`.

Airflow 3.2+ reads the form from the provider info (``conn-fields`` / ``ui-field-behaviour`` in
:mod:`airflow_oauth_connector.get_provider_info`, derived from the same field definitions). Airflow 3.1's
providers manager builds it from the hook's ``get_connection_form_widgets()`` / ``get_ui_field_behaviour()``
instead; its api-server stands in mocks for WTForms and Flask-AppBuilder, so these imports work without them
installed (and are only made when the form is built). 3.1 can express text, password, boolean, integer and
choice fields; URL, JSON and multiline fields become text fields, sections and dropdown labels do not exist
there, so a choice field's description lists the values to type.
"""

from __future__ import annotations

from typing import Any

from airflow_oauth_connector.fields import FORM_FIELDS, FieldSpec, ui_field_behaviour


def widget_description(spec: FieldSpec) -> str:
    """The 3.1 form's help text: the field's description, and a choice field's values."""
    if not spec.options:
        return spec.form_description
    return f"{spec.form_description} Values: {', '.join(value for value, _label in spec.options)}."


def form_widgets() -> dict[str, Any]:
    """``{field name: WTForms field}`` for every form extra, in form order."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import Optional, any_of

    widgets: dict[str, Any] = {}
    for spec in FORM_FIELDS:
        label = lazy_gettext(spec.form_label)
        description = widget_description(spec)
        if spec.kind == "boolean":
            widgets[spec.name] = BooleanField(label, description=description, default=spec.default)
        elif spec.kind == "password":
            widgets[spec.name] = PasswordField(label, widget=BS3PasswordFieldWidget(), description=description)
        elif spec.kind == "integer":
            widgets[spec.name] = IntegerField(
                label, widget=BS3TextFieldWidget(), validators=[Optional()], description=description
            )
        else:
            validators: list[Any] = [Optional()]
            if spec.options:
                validators.append(any_of([value for value, _label in spec.options]))
            widgets[spec.name] = StringField(
                label,
                widget=BS3TextFieldWidget(),
                validators=validators,
                description=description,
                default=spec.default,
            )
    return widgets


def field_behaviour() -> dict[str, Any]:
    """The standard fields' behaviour (hidden, relabelled, placeholders) in the hook method's spelling.

    The same content as ``ui-field-behaviour``; the hook method spells its key ``hidden_fields``.
    """
    return {key.replace("-", "_"): value for key, value in ui_field_behaviour().items()}
