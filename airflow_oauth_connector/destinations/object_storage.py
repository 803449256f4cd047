"""
ObjectStorageDestination: a run's records as part files under Airflow object storage, visible only once committed.

Layout under ``path`` (any URL ``airflow.sdk.ObjectStoragePath`` reaches: ``file://``, ``s3://conn@bucket/…``,
``gs://``, …)::

    <path>/<dag_id>.<task_id>.<run_id>[.<map_index>]/part-00000.jsonl … _SUCCESS     (committed runs)
    <path>/_oauth_connector_tmp/<dag_id>.<task_id>.<run_id>….try<N>/part-…          (a try in progress)

Parts are written to the try's temporary folder as pages arrive. The commit moves them into the run's final
folder (one directory rename on a local file system; copy + delete per part on an object store) and writes
``_SUCCESS`` (the manifest: file list and record count) last. The final folder's name depends on the run only,
so a retry replaces an earlier try's output instead of adding to it.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from airflow_oauth_connector.destinations.base import RunKey
from airflow_oauth_connector.destinations.formats import PartWriter, check_format, extension, part_writer
from airflow_oauth_connector.exceptions import DestinationError, DestinationUnavailableError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

TMP_FOLDER = "_oauth_connector_tmp"
SUCCESS = "_SUCCESS"
DEFAULT_PART_BYTES = 64 * 1024 * 1024


def _as_path(path: str | ObjectStoragePath, conn_id: str | None) -> ObjectStoragePath:
    from airflow.sdk import ObjectStoragePath

    if isinstance(path, ObjectStoragePath):
        return path
    return ObjectStoragePath(str(path), conn_id=conn_id)


class ObjectStorageDestination:
    """
    Land records as files under ``path``.

    :param path: URL of the destination folder (templated), or an ``ObjectStoragePath``.
    :param format: ``"jsonl"``, ``"jsonl.gz"`` or ``"parquet"`` (needs pyarrow: the ``parquet`` extra).
    :param conn_id: Airflow connection for the object store, when ``path`` is a string without one.
    :param max_part_bytes: a part file is closed once it holds this many (uncompressed) bytes; a page is
        never split, so a part holds at most this plus one page.
    """

    template_fields: tuple[str, ...] = ("path",)

    def __init__(
        self,
        path: str | ObjectStoragePath,
        format: str = "jsonl",
        *,
        conn_id: str | None = None,
        max_part_bytes: int = DEFAULT_PART_BYTES,
    ) -> None:
        check_format(format)
        if max_part_bytes < 1:
            raise ValueError("max_part_bytes must be positive")
        self.path = path
        self.format = format
        self.conn_id = conn_id
        self.max_part_bytes = max_part_bytes

    def __repr__(self) -> str:
        return f"ObjectStorageDestination(path={str(self.path)!r}, format={self.format!r})"

    def describe(self) -> str:
        return f"object storage {str(self.path)!r}"

    def open(self, run: RunKey) -> ObjectStorageLoad:
        return ObjectStorageLoad(self, run)


class ObjectStorageLoad:
    """One try's load: parts under the temporary folder, moved into the run's folder by :meth:`commit`."""

    def __init__(self, destination: ObjectStorageDestination, run: RunKey) -> None:
        self.destination = destination
        self.name = destination.describe()
        try:
            self.root = _as_path(destination.path, destination.conn_id)
            self.final = self.root / run.folder
            self.tmp = self.root / TMP_FOLDER / f"{run.folder}.try{run.try_number}"
            self._clear_earlier_tries(run)
            self.tmp.mkdir(parents=True, exist_ok=True)
            probe = self.tmp / "_probe"
            probe.write_bytes(b"")
            probe.unlink()
        except DestinationError:
            raise
        except Exception as exc:
            raise DestinationUnavailableError(self.name, f"{type(exc).__name__}: {exc}") from None
        self._writer: PartWriter | None = None
        self._parts: list[str] = []
        self.records = 0

    def _clear_earlier_tries(self, run: RunKey) -> None:
        for earlier in range(1, run.try_number + 1):
            _remove(self.root / TMP_FOLDER / f"{run.folder}.try{earlier}")

    def _new_part(self) -> PartWriter:
        name = f"part-{len(self._parts):05d}.{extension(self.destination.format)}"
        self._parts.append(name)
        raw = (self.tmp / name).open("wb")  # type: ignore[no-untyped-call]
        return part_writer(self.destination.format, raw, self.name)

    def write(self, records: list[Any]) -> None:
        if not records:
            return
        writer = self._writer
        if writer is not None and (
            writer.bytes_written >= self.destination.max_part_bytes or not writer.accepts(records)
        ):
            writer.close()
            writer = None
        if writer is None:
            writer = self._writer = self._new_part()
        writer.write(records)
        self.records += len(records)

    def commit(self) -> dict[str, Any]:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        files = [str(self.final / name) for name in self._parts]
        manifest = {"path": str(self.final), "format": self.destination.format, "files": files}
        if _exists(self.final):
            log.info("Replacing the output of an earlier try at %s", self.final)
            _remove(self.final)
        fs = self.tmp.fs
        if self._parts:
            fs.mv(self.tmp.path, self.final.path, recursive=True)
        else:
            self.final.mkdir(parents=True, exist_ok=True)
        (self.final / SUCCESS).write_text(json.dumps({**manifest, "records": self.records}))
        _remove(self.tmp)
        return manifest

    def abort(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
        except Exception:  # noqa: S110 - the part is removed below anyway
            pass
        self._writer = None
        _remove(self.tmp)


def _exists(path: ObjectStoragePath) -> bool:
    try:
        return bool(path.exists())
    except FileNotFoundError:
        return False


def _remove(path: ObjectStoragePath) -> None:
    """Delete ``path`` (a folder, recursively) if it exists; log rather than raise."""
    try:
        if _exists(path):
            path.fs.rm(path.path, recursive=True)
    except Exception as exc:
        log.warning("Could not remove %s: %s", path, exc)
