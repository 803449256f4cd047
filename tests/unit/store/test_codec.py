"""Token-store codec: round trips with and without a Fernet key; anything unusable reads as nothing."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from cryptography.fernet import Fernet

from airflow_oauth_connector.exceptions import TokenStoreError
from airflow_oauth_connector.status import AuthState, TokenStatus
from airflow_oauth_connector.store.codec import MAX_RECORD_BYTES, RECORD_VERSION, TokenCodec, key_digest
from tests.support.builders import ACCESS, REFRESH, make_token

KEY = "conn:oauth_test"
WHAT = "stored token"


@pytest.fixture(params=["plain", "encrypted"])
def codec(request: pytest.FixtureRequest) -> TokenCodec:
    return TokenCodec(None if request.param == "plain" else Fernet.generate_key().decode())


def test_token_round_trip(codec: TokenCodec) -> None:
    token = make_token(now=1_700_000_000.0)
    decoded = codec.decode_token(KEY, codec.encode_token(KEY, token, chain="abc"), what=WHAT)
    assert decoded is not None
    got, record = decoded
    assert got == token
    assert record["v"] == RECORD_VERSION
    assert record["key"] == KEY
    assert record["chain"] == "abc"


def test_a_refresh_expiry_round_trips_and_a_record_written_before_it_existed_loads(codec: TokenCodec) -> None:
    token = dataclasses.replace(make_token(now=1_700_000_000.0), refresh_expires_at=1_707_776_000.0)
    decoded = codec.decode_token(KEY, codec.encode_token(KEY, token), what=WHAT)
    assert decoded is not None
    assert decoded[0].refresh_expires_at == 1_707_776_000.0
    old = make_token(now=1_700_000_000.0).to_dict()
    assert "refresh_expires_at" not in old
    raw = codec.encode_record({"v": RECORD_VERSION, "key": KEY, "token": old})
    loaded = codec.decode_token(KEY, raw, what=WHAT)
    assert loaded is not None
    assert (loaded[0].access_token, loaded[0].refresh_expires_at) == (ACCESS, None)


def test_str_input_decodes_too(codec: TokenCodec) -> None:
    raw = codec.encode_token(KEY, make_token(now=1.0)).decode("ascii")
    decoded = codec.decode_token(KEY, raw, what=WHAT)
    assert decoded is not None
    assert decoded[0].access_token == ACCESS


def test_status_round_trip(codec: TokenCodec) -> None:
    status = TokenStatus(state=AuthState.NEEDS_REAUTHORIZATION, last_success=5.0)
    assert codec.decode_status(KEY, codec.encode_status(KEY, status), what=WHAT) == status
    assert codec.decode_status("other", codec.encode_status(KEY, status), what=WHAT) is None


def test_encrypted_record_hides_the_secrets() -> None:
    codec = TokenCodec(Fernet.generate_key().decode())
    raw = codec.encode_token(KEY, make_token())
    assert codec.encrypted
    assert ACCESS.encode() not in raw
    assert REFRESH.encode() not in raw
    assert KEY.encode() not in raw


def test_plain_record_is_json_when_no_key() -> None:
    codec = TokenCodec(None)
    raw = codec.encode_token(KEY, make_token(now=1.0))
    assert not codec.encrypted
    assert json.loads(raw)["token"]["access_token"] == ACCESS


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"   \n",
        b'{"v": 1, "key": "conn:oauth_test", "tok',  # truncated
        b"[1, 2, 3]",  # not an object
        b'{"v": 99, "key": "conn:oauth_test", "token": {}}',  # unknown version
        b'{"v": 1, "key": "conn:oauth_test", "token": "not an object"}',
        b'{"v": 1, "key": "conn:oauth_test", "token": {}}',  # incomplete token
        b"[" * 100_000,  # deeply nested garbage
        b"{" + b" " * MAX_RECORD_BYTES + b"}",  # too large
    ],
)
def test_corrupt_or_foreign_data_reads_as_nothing(codec: TokenCodec, raw: bytes | None) -> None:
    assert codec.decode_token(KEY, raw, what=WHAT) is None


def test_record_of_another_cache_key_reads_as_nothing(codec: TokenCodec) -> None:
    raw = codec.encode_token("conn:someone_else", make_token())
    assert codec.decode_token(KEY, raw, what=WHAT) is None


def test_record_encrypted_with_another_key_reads_as_nothing(caplog: pytest.LogCaptureFixture) -> None:
    writer = TokenCodec(Fernet.generate_key().decode())
    reader = TokenCodec(Fernet.generate_key().decode())
    with caplog.at_level(logging.WARNING):
        assert reader.decode_token(KEY, writer.encode_token(KEY, make_token()), what=WHAT) is None
    assert "cannot be decrypted" in caplog.text
    assert WHAT in caplog.text
    assert ACCESS not in caplog.text


def test_encrypted_record_without_a_key_reads_as_nothing(caplog: pytest.LogCaptureFixture) -> None:
    raw = TokenCodec(Fernet.generate_key().decode()).encode_token(KEY, make_token())
    with caplog.at_level(logging.WARNING):
        assert TokenCodec(None).decode_token(KEY, raw, what=WHAT) is None
    assert "no [core] fernet_key" in caplog.text


def test_warnings_never_quote_the_contents(caplog: pytest.LogCaptureFixture) -> None:
    raw = json.dumps({"v": 1, "key": KEY, "token": {"refresh_token": REFRESH}}).encode()
    with caplog.at_level(logging.WARNING):
        assert TokenCodec(None).decode_token(KEY, raw, what=WHAT) is None
    assert "incomplete" in caplog.text
    assert REFRESH not in caplog.text


def test_key_rotation_reads_records_of_the_old_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    raw = TokenCodec(old).encode_token(KEY, make_token(now=1.0))
    rotated = TokenCodec(f"{new}, {old}")
    decoded = rotated.decode_token(KEY, raw, what=WHAT)
    assert decoded is not None
    assert decoded[0].access_token == ACCESS
    # New records are written with the first (new) key: the old key alone cannot read them.
    assert TokenCodec(old).decode_token(KEY, rotated.encode_token(KEY, make_token()), what=WHAT) is None
    assert TokenCodec(new).decode_token(KEY, rotated.encode_token(KEY, make_token()), what=WHAT) is not None


def test_invalid_key_raises_the_documented_error_without_the_key() -> None:
    bad = "not-a-fernet-key-but-a-secret"
    with pytest.raises(TokenStoreError, match="not a valid Fernet key") as caught:
        TokenCodec(bad)
    assert bad not in str(caught.value)


def test_repr_and_fingerprint_never_show_the_key() -> None:
    key = Fernet.generate_key().decode()
    codec = TokenCodec(key)
    assert repr(codec) == "TokenCodec(encrypted=True)"
    assert key not in repr(codec)
    assert key not in codec.fingerprint
    assert repr(TokenCodec(None)) == "TokenCodec(encrypted=False)"


def test_fingerprint_differs_by_key() -> None:
    one, two = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert TokenCodec(one).fingerprint == TokenCodec(one).fingerprint
    assert TokenCodec(one).fingerprint != TokenCodec(two).fingerprint
    assert TokenCodec(one).fingerprint != ""
    assert TokenCodec(None).fingerprint == ""


def test_from_config_follows_airflows_fernet_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", key)
    assert TokenCodec.from_config().fingerprint == TokenCodec(key).fingerprint
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "")
    assert not TokenCodec.from_config().encrypted


def test_key_digest_is_stable_and_path_safe() -> None:
    digest = key_digest("conn:a/b?c")
    assert digest == key_digest("conn:a/b?c") != key_digest("conn:a/b?d")
    assert len(digest) == 64
    assert all(ch in "0123456789abcdef" for ch in digest)
