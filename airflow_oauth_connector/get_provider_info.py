"""Provider metadata for Airflow: the ``oauth_connector`` connection type and its form."""

from __future__ import annotations

from typing import Any

from airflow_oauth_connector.config import provider_config
from airflow_oauth_connector.fields import conn_fields, ui_field_behaviour

# Read by Airflow while it configures itself: nothing here may import Airflow. The fields are defined once,
# in airflow_oauth_connector.fields; conn_fields() is their Airflow 3.2+ declarative form, built when Airflow
# asks (the provider dropdown's labels come from the preset files), not when this module is imported.


def get_provider_info() -> dict[str, Any]:
    """Entry point ``apache_airflow_provider``: metadata read by Airflow's providers manager."""
    return {
        "package-name": "airflow-oauth-connector",
        "name": "OAuth 2.0 API Connector",
        "description": "Any OAuth 2.0-protected REST API as an Airflow connection: tokens fetched, cached, "
        "refreshed and retried for you.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "OAuth 2.0 API",
                "external-doc-url": "https://datatracker.ietf.org/doc/html/rfc6749",
                "tags": ["protocol"],
            }
        ],
        "hooks": [
            {
                "integration-name": "OAuth 2.0 API",
                "python-modules": ["airflow_oauth_connector.hooks.oauth"],
            }
        ],
        "config": provider_config(),
        "cli": ["airflow_oauth_connector.cli.get_cli_commands"],
        "connection-types": [
            {
                "hook-class-name": "airflow_oauth_connector.hooks.oauth.OAuthConnectorHook",
                "hook-name": "OAuth 2.0 API",
                "connection-type": "oauth_connector",
                "conn-fields": conn_fields(),
                "ui-field-behaviour": ui_field_behaviour(),
            }
        ],
    }
