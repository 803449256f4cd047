"""File formats of object-storage parts: JSON Lines (plain or gzip) and Parquet, each writing one part file."""

from __future__ import annotations

import gzip
import json
from typing import IO, Any, Protocol

from airflow_oauth_connector.exceptions import DestinationSchemaError

try:  # orjson where installed (it is not a dependency of Airflow 3.3); json is the fallback
    import orjson  # type: ignore[import-not-found, unused-ignore]

    def _dumps_line(record: Any) -> bytes:
        line: bytes = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        return line

except ImportError:  # pragma: no cover - orjson missing

    def _dumps_line(record: Any) -> bytes:
        return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


FORMATS = ("jsonl", "jsonl.gz", "parquet")


class PartWriter(Protocol):
    """Writes pages of records into one open part file and counts the (uncompressed) bytes."""

    bytes_written: int

    def accepts(self, records: list[Any]) -> bool:
        """Whether ``records`` fit this part (a Parquet part has one schema)."""

    def write(self, records: list[Any]) -> None: ...

    def close(self) -> None: ...


class JsonLinesWriter:
    """One JSON document per line, UTF-8; ``compress`` wraps the file in gzip."""

    def __init__(self, raw: IO[bytes], *, compress: bool) -> None:
        self._raw = raw
        self._out: IO[bytes] = (
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) if compress else raw  # type: ignore[assignment]
        )
        self.bytes_written = 0

    def accepts(self, records: list[Any]) -> bool:
        return True

    def write(self, records: list[Any]) -> None:
        chunk = b"".join(_dumps_line(r) for r in records)
        self._out.write(chunk)
        self.bytes_written += len(chunk)

    def close(self) -> None:
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()


class ParquetWriter:
    """Parquet (needs pyarrow): one schema per part; a page with new fields starts a new part."""

    def __init__(self, raw: IO[bytes], destination: str) -> None:
        self._raw = raw
        self._destination = destination
        self._writer: Any = None
        self._schema: Any = None
        self.bytes_written = 0

    def _table(self, records: list[Any]) -> Any:
        import pyarrow as pa

        columns: dict[str, list[Any]] = {}
        for record in records:
            for key in record if isinstance(record, dict) else ():
                columns.setdefault(key, [])
        if len(columns) == 0 or not all(isinstance(r, dict) for r in records):
            raise DestinationSchemaError(self._destination, "<record>", "Parquet needs every record to be an object")
        for name in columns:
            columns[name] = [r.get(name) for r in records]
        arrays = {}
        for name, values in columns.items():
            try:
                arrays[name] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise DestinationSchemaError(self._destination, name, f"mixed value types ({exc})") from None
        return pa.table(arrays)

    def _fit(self, table: Any) -> Any:
        """``table`` cast to this part's schema, or ``None`` when it has fields the schema lacks."""
        import pyarrow as pa

        if self._schema is None:
            return table
        for field in table.schema:
            if field.name not in self._schema.names:
                return None
            known = self._schema.field(field.name).type
            if field.type != known and not pa.types.is_null(field.type):
                raise DestinationSchemaError(
                    self._destination, field.name, f"type changed from {known} to {field.type}"
                )
        columns = [
            table.column(f.name).cast(f.type) if f.name in table.schema.names else pa.nulls(len(table), f.type)
            for f in self._schema
        ]
        return pa.Table.from_arrays(columns, schema=self._schema)

    def accepts(self, records: list[Any]) -> bool:
        return self._schema is None or self._fit(self._table(records)) is not None

    def write(self, records: list[Any]) -> None:
        import pyarrow.parquet as pq

        table = self._fit(self._table(records))
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._raw, self._schema, compression="snappy")
        self._writer.write_table(table)
        self.bytes_written += int(table.nbytes)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._raw.close()


def extension(fmt: str) -> str:
    return {"jsonl": "jsonl", "jsonl.gz": "jsonl.gz", "parquet": "parquet"}[fmt]


def check_format(fmt: str) -> None:
    """Raise ``ValueError`` for an unknown format, or Parquet without pyarrow (at DAG parse time)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError("format='parquet' needs pyarrow: pip install 'airflow-oauth-connector[parquet]'") from None


def part_writer(fmt: str, raw: IO[bytes], destination: str) -> PartWriter:
    if fmt == "parquet":
        return ParquetWriter(raw, destination)
    return JsonLinesWriter(raw, compress=fmt == "jsonl.gz")
