"""Sensors for OAuth 2.0-protected APIs."""

from __future__ import annotations

from airflow_oauth_connector.sensors.oauth import OAuthConnectorSensor

__all__ = ["OAuthConnectorSensor"]
