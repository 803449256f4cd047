"""The destination contract: open a load for one task try, write pages into it, commit once or abort."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """``text`` reduced to characters safe in a file or table name (others become ``_``)."""
    return _UNSAFE.sub("_", text).strip("._") or "_"


@dataclass(frozen=True)
class RunKey:
    """Which task try is loading: final names derive from dag/task/run/map index, temporary ones add the try."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    try_number: int = 1

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> RunKey:
        """The task instance's identity; outside a task run (no ``ti``) a unique ad-hoc run."""
        ti = context.get("ti") if hasattr(context, "get") else None
        if ti is None:
            return cls(dag_id="adhoc", task_id="adhoc", run_id=f"adhoc-{uuid.uuid4().hex[:12]}")
        return cls(
            dag_id=str(ti.dag_id),
            task_id=str(ti.task_id),
            run_id=str(ti.run_id),
            map_index=int(getattr(ti, "map_index", -1) or -1),
            try_number=max(1, int(getattr(ti, "try_number", 1) or 1)),
        )

    @property
    def folder(self) -> str:
        """Deterministic per run (not per try), so that a retry replaces instead of adding."""
        parts = [self.dag_id, self.task_id, self.run_id]
        if self.map_index >= 0:
            parts.append(str(self.map_index))
        return ".".join(safe_name(p) for p in parts)


class Load(Protocol):
    """One task try's load: ``write`` each page's records as they arrive, then ``commit`` once (or ``abort``)."""

    def write(self, records: list[Any]) -> None:
        """Write one page's records to the destination's temporary area (not yet visible)."""

    def commit(self) -> dict[str, Any]:
        """Make everything written visible at once; returns the destination's manifest keys."""

    def abort(self) -> None:
        """Discard everything written; the destination is left exactly as it was. Never raises."""


class Destination(Protocol):
    """Where a landing operator writes: checked when opened, before any API call."""

    template_fields: tuple[str, ...]

    def open(self, run: RunKey) -> Load:
        """Check the destination can be written and start a load (raises DestinationUnavailableError)."""

    def describe(self) -> str:
        """The destination as named in messages (no secrets)."""
