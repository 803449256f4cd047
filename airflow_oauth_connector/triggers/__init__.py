"""Triggers of the OAuth connector provider (deferrable calls)."""

from __future__ import annotations

from airflow_oauth_connector.triggers.oauth import OAuthConnectorTrigger

__all__ = ["OAuthConnectorTrigger"]
