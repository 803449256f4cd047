"""Hooks of the OAuth connector provider."""

from __future__ import annotations

from airflow_oauth_connector.hooks.oauth import OAuthConnectorHook

__all__ = ["OAuthConnectorHook"]
