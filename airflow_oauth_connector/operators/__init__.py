"""Operators of the OAuth connector provider."""

from __future__ import annotations

from airflow_oauth_connector.operators.oauth import OAuthConnectorOperator, ResponseCheckFailed

__all__ = ["OAuthConnectorOperator", "ResponseCheckFailed"]
