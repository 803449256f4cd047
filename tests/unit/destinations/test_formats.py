from __future__ import annotations

import gzip
import io
import json

import pytest

from airflow_oauth_connector.destinations.formats import JsonLinesWriter, check_format, part_writer

pytestmark = pytest.mark.timeout(30)


class Kept(io.BytesIO):
    def close(self) -> None:  # keep the bytes readable after the writer closes the file
        self.final = self.getvalue()
        super().close()


@pytest.mark.parametrize("compress", [False, True])
def test_json_lines_counts_uncompressed_bytes(compress):
    raw = Kept()
    writer = JsonLinesWriter(raw, compress=compress)
    writer.write([{"a": 1, "é": "ü"}, {"b": [1, 2]}])
    writer.close()
    data = gzip.decompress(raw.final) if compress else raw.final
    assert [json.loads(line) for line in data.splitlines()] == [{"a": 1, "é": "ü"}, {"b": [1, 2]}]
    assert writer.bytes_written == len(data)


def test_formats_are_checked():
    check_format("jsonl.gz")
    with pytest.raises(ValueError, match="format must be one of"):
        check_format("xml")
    assert isinstance(part_writer("jsonl", Kept(), "d"), JsonLinesWriter)
