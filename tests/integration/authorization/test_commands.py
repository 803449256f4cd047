"""save_authorization in a real migrated metadata DB with a Fernet key: the extra is stored encrypted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.support.authorization import ACCESS, REFRESH, SECRET, assert_secret_free

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_extra_is_encrypted_in_the_db_with_a_fernet_key(airflow_db: Any, tmp_path: Any) -> None:
    """Airflow caches its Fernet object per process, so this runs in a subprocess with its own key."""
    script = textwrap.dedent(
        """
        import json, sys, time
        from sqlalchemy import text
        from airflow.models import Connection
        from airflow.utils.session import create_session
        from airflow_oauth_connector.authorization import save_authorization
        from airflow_oauth_connector.token import Token, refresh_origin

        conn_id, secret, access, refresh = sys.argv[1:5]
        with create_session() as s:
            s.add(Connection(conn_id=conn_id, conn_type="oauth_connector", host="https://api.example.com",
                             login="c", password=secret, extra=json.dumps({
                                 "grant_type": "authorization_code",
                                 "access_url": "https://auth.example.com/token",
                                 "authorize_url": "https://auth.example.com/authorize"})))
        now = time.time()
        save_authorization(conn_id, Token(access_token=access, refresh_token=refresh, expires_at=now + 60,
                                          issued_at=now))
        with create_session() as s:
            raw, flag = s.execute(text("SELECT extra, is_extra_encrypted FROM connection WHERE conn_id = :c"),
                                  {"c": conn_id}).one()
            conn = s.query(Connection).filter_by(conn_id=conn_id).one()
            print(json.dumps({"raw": raw, "flag": bool(flag), "refresh": conn.extra_dejson.get("refresh_token")}))
            s.delete(conn)
        """
    )
    env = dict(os.environ)
    env["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
    env["AIRFLOW__OAUTH_CONNECTOR__TOKEN_DIRECTORY"] = str(tmp_path / "sub-tokens")
    conn_id = f"authz_fernet_{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [sys.executable, "-c", script, conn_id, SECRET, ACCESS, REFRESH],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["flag"] is True
    assert out["refresh"] == REFRESH
    assert_secret_free(out["raw"])
    assert "authorization_code" not in out["raw"]
