"""Where Airflow 3.1, 3.2 and 3.3 keep the internals the tests use (DagBag, plugin validation)."""

from __future__ import annotations

from typing import Any

import airflow

AIRFLOW_MINOR: tuple[int, int] = tuple(int(part) for part in airflow.__version__.split(".")[:2])  # type: ignore[assignment]
"""The installed Airflow's minor line, e.g. ``(3, 3)``."""

try:  # Airflow 3.2+
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
except ImportError:  # Airflow 3.1
    from airflow.models.dagbag import DagBag, sync_bag_to_db  # type: ignore[no-redef,attr-defined,unused-ignore]

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        AirflowSensorTimeout,
        TaskDeferred,
    )


def is_valid_plugin(plugin: Any) -> bool:
    """Airflow's own check that ``plugin`` is an ``AirflowPlugin`` subclass it would load."""
    try:  # Airflow 3.2+
        from airflow.sdk._shared.plugins_manager import is_valid_plugin as check
    except ImportError:  # Airflow 3.1: its is_valid_plugin needs the plugins loaded (then ours counts as known)
        from airflow.plugins_manager import AirflowPlugin

        if not (isinstance(plugin, type) and issubclass(plugin, AirflowPlugin) and plugin is not AirflowPlugin):
            return False
        plugin.validate()  # raises AirflowPluginException for a plugin without a name
        return True
    return bool(check(plugin))


def wait_for_in_process_api_startup() -> None:
    """
    Airflow 3.1/3.2: ``dag.test()``'s in-process execution API starts its lifespan without waiting for it,
    so a task's first call can arrive before the services registry exists (``'State' object has no
    attribute 'svcs_registry'`` and the task fails). Airflow 3.3 waits; here the tests wait the same way.
    """
    if AIRFLOW_MINOR >= (3, 3):
        return
    import time

    import svcs
    from airflow.api_fastapi.execution_api import deps
    from airflow.sdk.execution_time import supervisor

    original = supervisor.in_process_api_server
    if getattr(original, "waits_for_startup", False):
        return

    def in_process_api_server() -> Any:
        api = original()
        _ = api.transport  # starts the lifespan
        deadline = time.monotonic() + 30
        while getattr(api.app.state, "svcs_registry", None) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        registry = api.app.state.svcs_registry

        async def container() -> Any:  # Airflow 3.2: routes' request.app is a versioned sub-app without state
            async with svcs.Container(registry) as services:
                yield services

        api.app.dependency_overrides[deps._container] = container
        return api

    in_process_api_server.waits_for_startup = True  # type: ignore[attr-defined]
    supervisor.in_process_api_server = in_process_api_server


__all__ = [
    "AirflowSensorTimeout",
    "DagBag",
    "TaskDeferred",
    "is_valid_plugin",
    "sync_bag_to_db",
    "wait_for_in_process_api_startup",
]
