"""Operators of the OAuth connector provider."""

from __future__ import annotations

from airflow_oauth_connector.exceptions import ResponseCheckError, ResponseCheckFailed
from airflow_oauth_connector.operators.oauth import OAuthConnectorOperator

__all__ = ["OAuthConnectorOperator", "ResponseCheckError", "ResponseCheckFailed"]
