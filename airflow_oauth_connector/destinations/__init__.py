"""Destinations a landing operator streams pages into: object storage (files) and SQL tables."""

from __future__ import annotations

from airflow_oauth_connector.destinations.base import Destination, Load, RunKey
from airflow_oauth_connector.destinations.object_storage import ObjectStorageDestination
from airflow_oauth_connector.destinations.sql import SqlDestination

__all__ = ["Destination", "Load", "ObjectStorageDestination", "RunKey", "SqlDestination"]
