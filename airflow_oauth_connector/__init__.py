"""airflow-oauth-connector: any OAuth 2.0-protected REST API as a first-class Airflow connection."""

from __future__ import annotations

__version__ = "0.1.0"
