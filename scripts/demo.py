"""
The demo behind ./demo.sh: a real OAuth 2.0 server and API on loopback, two connections, example DAGs.

1. starts the test authorization server (django-oauth-toolkit) and its protected demo API on 127.0.0.1;
2. creates an embedded Airflow home (SQLite) in a temporary folder;
3. defines two connections as AIRFLOW_CONN_* JSON: client credentials, and authorization code whose
   refresh token comes from a one-time consent (performed here by a scripted browser as the demo user);
4. runs the example DAGs with ``airflow dags test`` and prints what they fetched and how many token
   requests the server counted; the landing DAGs write into ``file://`` under the demo's Airflow home and,
   where PostgreSQL runs on 127.0.0.1:5432 (trust), into a scratch schema there (dropped at the end).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.authserver.runner import AuthServer, start_auth_server  # noqa: E402
from tests.support.connections import connection as test_connection  # noqa: E402

DAGS = ("oauth_client_credentials_pagination", "oauth_authorization_code_refresh", "oauth_post_with_response_check")
LAND_FILES = "oauth_land_records_to_files"
LAND_POSTGRES = "oauth_land_records_to_postgres"


def connection(server: AuthServer, client: str, **extra: object) -> str:
    return json.dumps(test_connection(server, client, **extra))


def consent_once(server: AuthServer) -> str:
    """The one-time Authorize step: returns the refresh token obtained from the real server."""
    from tests.support.consent import obtain_refresh_token

    return obtain_refresh_token(server)


def run_dag(dag_id: str, env: dict[str, str], log_dir: Path, conf: dict[str, object] | None = None) -> None:
    log = log_dir / f"{dag_id}.log"
    started = time.monotonic()
    command = [sys.executable, "-m", "airflow", "dags", "test", dag_id]
    if conf:
        command += ["--conf", json.dumps(conf)]
    with log.open("w") as out:
        result = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    status = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode}, see {log})"
    print(f"  {dag_id}: {status} in {time.monotonic() - started:.1f} s")
    if result.returncode != 0:
        print(log.read_text()[-3000:])
        raise SystemExit(1)


def xcom_values(env: dict[str, str]) -> dict[str, object]:
    """Read the runs' return values from the demo's metadata DB (a subprocess with the demo's env)."""
    code = """
import json
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
with create_session() as s:
    rows = s.query(XComModel).filter(XComModel.key == "return_value").all()
    print(json.dumps({f"{r.dag_id}.{r.task_id}": r.value for r in rows}, default=str))
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    values = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: json.loads(v) if isinstance(v, str) else v for k, v in values.items()}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="oauth-connector-demo-") as tmp:
        root = Path(tmp)
        print("Starting the OAuth 2.0 authorization server and demo API (django-oauth-toolkit) on loopback ...")
        server = start_auth_server(root / "authserver")
        try:
            print(f"  issuer {server.issuer}, API {server.api_base}")
            print("Authorizing the authorization-code connection once (scripted consent as the demo user) ...")
            refresh_token = consent_once(server)
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
                "AIRFLOW_HOME": str(root / "airflow"),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{root / 'airflow' / 'airflow.db'}",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
                "PYTHONPATH": str(REPO),
                "AIRFLOW_CONN_OAUTH_DEMO_CC": connection(server, "cc"),
                "AIRFLOW_CONN_OAUTH_DEMO_AC": connection(
                    server,
                    "ac",
                    grant_type="authorization_code",
                    authorize_url=server.authorize_url,
                    refresh_token=refresh_token,
                ),
            }
            print("Creating an embedded Airflow home (SQLite) ...")
            subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
            server.reset_stats()
            print("Running the example DAGs with `airflow dags test` ...")
            for dag_id in DAGS:
                run_dag(dag_id, env, root)
            stats = server.stats()  # the figures report() prints are those of the three DAGs above
            landed = run_landing_dags(env, root)
            values = xcom_values(env)
            report(values, stats)
            print(landed)
            for task in (f"{LAND_FILES}.land_records", f"{LAND_POSTGRES}.merge_records"):
                if task in values:
                    manifest = dict(values[task])  # type: ignore[call-overload]
                    manifest.pop("files", None)
                    print(f"  manifest of {task}: {json.dumps(manifest)}")
        finally:
            server.stop()


def run_landing_dags(env: dict[str, str], root: Path) -> str:
    """The DAGs that land data: into file:// under the demo's home, and into PostgreSQL where it runs."""
    from tests.support import postgres

    lines = ["", "What the landing DAGs wrote"]
    run_dag(LAND_FILES, env, root)
    landed = root / "airflow" / "landed" / "records"
    parts = sorted(landed.glob("*/part-*"))
    lines.append(f"  {LAND_FILES}: {len(parts)} part file(s) under {landed} (+ _SUCCESS manifest)")
    reason = postgres.unreachable()
    if reason is not None:
        lines.append(f"  {LAND_POSTGRES}: skipped ({reason})")
        return "\n".join(lines)
    with postgres.scratch_schema("oauth_demo") as (schema, conn):
        pg_env = {**env, "AIRFLOW_CONN_OAUTH_DEMO_PG": postgres.pg_uri()}
        run_dag(LAND_POSTGRES, pg_env, root, conf={"table": f"{schema}.records"})
        (count,) = conn.execute(f'SELECT COUNT(*) FROM "{schema}".records').fetchone()  # noqa: S608
        lines.append(f"  {LAND_POSTGRES}: {count} rows merged into {schema}.records on {postgres.PG_HOST}")
        lines.append("  (a scratch schema, dropped when the demo ends)")
    return "\n".join(lines)


def report(values: dict[str, object], stats: dict[str, object]) -> None:
    summary = values.get("oauth_client_credentials_pagination.summarise") or {}
    items = values.get("oauth_client_credentials_pagination.fetch_items") or []
    ac_items = values.get("oauth_authorization_code_refresh.fetch_items") or []
    whoami = values.get("oauth_authorization_code_refresh.whoami") or {}
    posted = values.get("oauth_post_with_response_check.post_event") or {}
    tokens = stats["token_requests"]  # type: ignore[index]
    api = stats["api_requests"]  # type: ignore[index]
    print()
    print("What the DAGs fetched")
    print(
        f"  client credentials + offset pagination: {len(items)} records "  # type: ignore[arg-type]
        f"({summary.get('first')} ... {summary.get('last')})"
    )  # type: ignore[union-attr]
    print(
        f"  authorization code (stored refresh token) as user {whoami.get('user')!r}: "  # type: ignore[union-attr]
        f"{len(ac_items)} records over Link-header pages"
    )  # type: ignore[arg-type]
    print(f"  POST with response_check: the API received {json.dumps(posted)}")
    print()
    print(f"API requests: {api['total']}, of which rejected with 401: {api['unauthorized']}")
    by_grant = ", ".join(f"{k}: {v}" for k, v in sorted(tokens["by_grant_type"].items()))
    print(f"Token requests counted by the authorization server: {tokens['total']} ({by_grant})")
    print(
        "(three `airflow dags test` processes; the connections' default file token store under AIRFLOW_HOME "
        "let later runs reuse the tokens earlier runs obtained)"
    )


if __name__ == "__main__":
    main()
