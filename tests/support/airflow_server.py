"""Run the real ``airflow`` CLI and a real ``airflow api-server`` against a throw-away AIRFLOW_HOME.

Typical use (e.g. in a module-scoped fixture)::

    home = tmp_path_factory.mktemp("airflow_home")
    migrate_db(home)                                   # once: SQLite metadata DB in ``home``
    server = start_api_server(home, env={"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"})
    try:
        api = server.session()                         # requests.Session with a Bearer JWT
        api.get(server.url("/api/v2/connections")).raise_for_status()
    finally:
        server.stop()                                  # SIGTERM, then SIGKILL, to the process group

Every subprocess gets a clean environment: inherited ``AIRFLOW_*`` variables are dropped, AIRFLOW_HOME,
the SQLite URL and ``LOAD_EXAMPLES=False`` are set, and the directory of ``sys.executable`` (the venv's
``bin``) comes first on PATH.  The api-server uses Airflow's SimpleAuthManager with users and passwords
written by this module (``ApiServer.passwords``); :meth:`ApiServer.get_token` logs in through the auth
manager's real ``POST /auth/token`` endpoint.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from tests.support.processes import killpg, spawn_logged

DEFAULT_START_TIMEOUT = 90.0
DEFAULT_CLI_TIMEOUT = 180.0
HEALTH_PATH = "/api/v2/monitor/health"
TOKEN_PATH = "/auth/token"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


class AirflowProcessError(RuntimeError):
    """An ``airflow`` CLI command failed, or the api-server did not start / died."""


# ---------------------------------------------------------------------------------------------- environment
def airflow_executable() -> list[str]:
    """The ``airflow`` command of the running interpreter's environment (falls back to ``python -m airflow``)."""
    script = Path(sys.executable).parent / "airflow"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "airflow"]


def airflow_env(airflow_home: Path, env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Environment for an Airflow subprocess bound to ``airflow_home`` (``env`` wins; ``None`` values unset)."""
    home = Path(airflow_home).resolve()
    child = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_")}
    bin_dir = str(Path(sys.executable).parent)
    child["PATH"] = os.pathsep.join([bin_dir, *[p for p in child.get("PATH", "").split(os.pathsep) if p]])
    child.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
        }
    )
    for key, value in (env or {}).items():
        if value is None:
            child.pop(key, None)
        else:
            child[key] = value
    return child


def run_airflow(
    airflow_home: Path,
    *args: str,
    env: Mapping[str, str | None] | None = None,
    timeout: float = DEFAULT_CLI_TIMEOUT,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``airflow *args`` with ``airflow_home``; raise :class:`AirflowProcessError` (with output) on failure."""
    cmd = [*airflow_executable(), *args]
    try:
        result = subprocess.run(
            cmd,
            env=airflow_env(airflow_home, env),
            cwd=str(airflow_home),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AirflowProcessError(
            f"`airflow {' '.join(args)}` did not finish within {timeout:.0f} s\n{_tail(_text(exc.stderr))}"
        ) from exc
    if check and result.returncode != 0:
        raise AirflowProcessError(
            f"`airflow {' '.join(args)}` exited with {result.returncode}\n"
            f"--- stdout ---\n{_tail(result.stdout)}\n--- stderr ---\n{_tail(result.stderr)}"
        )
    return result


def run_airflow_json(
    airflow_home: Path, *args: str, env: Mapping[str, str | None] | None = None, timeout: float = DEFAULT_CLI_TIMEOUT
) -> Any:
    """Run ``airflow *args --output json`` and return the decoded JSON."""
    result = run_airflow(airflow_home, *args, "--output", "json", env=env, timeout=timeout)
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise AirflowProcessError(
            f"`airflow {' '.join(args)} --output json` printed no JSON: {exc}\n"
            f"--- stdout ---\n{_tail(result.stdout)}\n--- stderr ---\n{_tail(result.stderr)}"
        ) from exc


def migrate_db(
    airflow_home: Path, *, env: Mapping[str, str | None] | None = None, timeout: float = DEFAULT_CLI_TIMEOUT
) -> None:
    """``airflow db migrate``: create the SQLite metadata DB (and ``airflow.cfg``) in ``airflow_home``."""
    Path(airflow_home).mkdir(parents=True, exist_ok=True)
    run_airflow(airflow_home, "db", "migrate", env=env, timeout=timeout)


def run_python(airflow_home: Path, env: Mapping[str, str | None], *args: str, timeout: float = 120.0) -> str:
    """
    ``python *args`` (this interpreter, e.g. ``-m airflow_oauth_connector.cli status``) bound to ``airflow_home``
    with ``env`` (an api-server's or a deployment's: its DB and keys), as an operator runs it there: its
    stdout; fails the test with the output if it exits non-zero.
    """
    result = subprocess.run(
        [sys.executable, *args],
        env=airflow_env(airflow_home, env),
        cwd=str(airflow_home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-3000:]}"
    return result.stdout


# ------------------------------------------------------------------------------------------------ api-server
@dataclass
class ApiServer:
    """Handle on a running ``airflow api-server`` subprocess (its own process group)."""

    base_url: str
    port: int
    airflow_home: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    passwords: dict[str, str] = field(repr=False, default_factory=dict)
    env: dict[str, str] = field(repr=False, default_factory=dict)
    default_user: str = "admin"

    # -------------------------------------------------------------- state
    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def is_running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return _tail(self.log_text(), lines)

    # --------------------------------------------------------------- auth
    def get_token(self, username: str | None = None, password: str | None = None) -> str:
        """A JWT from SimpleAuthManager's ``POST /auth/token`` (password defaults to the generated one)."""
        username = username or self.default_user
        if password is None:
            password = self.passwords[username]
        resp = requests.post(self.url(TOKEN_PATH), json={"username": username, "password": password}, timeout=30)
        if resp.status_code != 201:
            raise AirflowProcessError(f"login as {username!r} failed: HTTP {resp.status_code} {resp.text[:300]}")
        return str(resp.json()["access_token"])

    def session(self, username: str | None = None, password: str | None = None) -> requests.Session:
        """A ``requests.Session`` sending ``Authorization: Bearer <JWT>`` for ``username``."""
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {self.get_token(username, password)}"
        return s

    # ------------------------------------------------------------ control
    def wait_until_ready(self, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        """Poll the health endpoint until it answers 200; raise (with the log tail) if the process dies."""
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while True:
            if not self.is_running():
                raise AirflowProcessError(
                    f"airflow api-server exited with {self.process.returncode} before it was ready "
                    f"({self.base_url}); log tail:\n{self.log_tail()}"
                )
            try:
                resp = requests.get(self.url(HEALTH_PATH), timeout=2)
                if resp.status_code == 200:
                    return
                last_error = f"HTTP {resp.status_code}"
            except requests.RequestException as exc:
                last_error = type(exc).__name__
            if time.monotonic() >= deadline:
                self.stop()
                raise AirflowProcessError(
                    f"airflow api-server not ready at {self.url(HEALTH_PATH)} within {timeout:.0f} s "
                    f"(last: {last_error}); log tail:\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server's process group, SIGKILL whatever is left after ``timeout`` s. Idempotent."""
        pgid = self.process.pid  # start_new_session=True: the server leads its own group
        if self.is_running():
            killpg(pgid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                killpg(pgid, signal.SIGKILL)
                self.process.wait(timeout=10)
        killpg(pgid, signal.SIGKILL)  # stragglers (uvicorn workers, helpers) still in the group
        atexit.unregister(self.stop)

    def __enter__(self) -> ApiServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_api_server(
    airflow_home: Path,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    env: Mapping[str, str | None] | None = None,
    users: Mapping[str, str] | None = None,
    apps: str = "all",
    extra_args: Sequence[str] = (),
    timeout: float = DEFAULT_START_TIMEOUT,
    migrate: bool = False,
) -> ApiServer:
    """Start ``airflow api-server`` on ``host:port`` (``0``: a free port) and wait until it is healthy.

    ``host`` is loopback unless a test binds it to an address of its own network namespaces' link.

    :param airflow_home: the AIRFLOW_HOME; its DB must be migrated (:func:`migrate_db`, or ``migrate=True``).
    :param env: extra environment (e.g. ``{"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}``); ``None`` unsets.
    :param users: SimpleAuthManager users, ``{username: role}`` (role: VIEWER, USER, OP, ADMIN);
        default ``{"admin": "ADMIN"}``.  Random passwords are written to a passwords file and kept in
        :attr:`ApiServer.passwords`.
    :param apps: ``--apps`` of the api-server (``all``, ``core``, ``execution``).
    :param timeout: seconds to wait for the health endpoint.

    Output goes to ``airflow_home/api-server-<port>.log``.  Stop it with :meth:`ApiServer.stop` (also
    registered with ``atexit``; on Linux the server also gets SIGTERM if the test process dies).
    """
    home = Path(airflow_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if migrate:
        migrate_db(home, env=env)
    users = dict(users or {"admin": "ADMIN"})
    passwords = {name: secrets.token_urlsafe(18) for name in users}
    passwords_file = home / "simple_auth_manager_passwords.json"
    passwords_file.write_text(json.dumps(passwords) + "\n")
    passwords_file.chmod(0o600)

    server_env: dict[str, str | None] = {
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{n}:{r}" for n, r in users.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        # Fixed for the server's lifetime so all workers sign and verify with the same keys.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__WORKERS": "1",
    }
    server_env.update(env or {})

    attempts = 3 if port == 0 else 1  # a picked free port can be taken before the server binds it
    for attempt in range(1, attempts + 1):
        chosen = port or _free_port(host)
        server = _spawn(
            home, chosen, server_env, passwords, apps, extra_args, default_user=next(iter(users)), host=host
        )
        try:
            server.wait_until_ready(timeout)
        except AirflowProcessError:
            server.stop()
            if attempt < attempts and "address already in use" in server.log_text().lower():
                continue
            raise
        return server
    raise AssertionError("unreachable")


@contextmanager
def serving_airflow(home: Path, users: Mapping[str, str] | None = None) -> Iterator[ApiServer]:
    """
    A migrated metadata DB in ``home`` and an api-server on it (a Fernet key, the Connections page's Test
    button enabled, SimpleAuthManager ``users``), stopped on exit: the server of a module's page tests.
    """
    env = {"AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(), "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    migrate_db(home, env=env)
    server = start_api_server(home, env=env, users=users)
    try:
        yield server
    finally:
        server.stop()


def _spawn(
    home: Path,
    port: int,
    env: Mapping[str, str | None],
    passwords: dict[str, str],
    apps: str,
    extra_args: Sequence[str],
    *,
    default_user: str,
    host: str = "127.0.0.1",
) -> ApiServer:
    # The public base URL a real deployment configures (the plugin's callback URL is derived from it).
    child_env = airflow_env(
        home, {"AIRFLOW__API__BASE_URL": f"http://{host}:{port}", **env, "AIRFLOW__API__PORT": str(port)}
    )
    log_path = home / f"api-server-{port}.log"
    cmd = [
        *airflow_executable(),
        "api-server",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        child_env.get("AIRFLOW__API__WORKERS", "1"),
        "--apps",
        apps,
        *extra_args,
    ]
    proc = spawn_logged(cmd, child_env, home, log_path)
    server = ApiServer(
        base_url=f"http://{host}:{port}",
        port=port,
        airflow_home=home,
        log_path=log_path,
        process=proc,
        passwords=passwords,
        env=child_env,
        default_user=default_user,
    )
    atexit.register(server.stop)
    return server


# ----------------------------------------------------------------------------------------------- utilities
def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])
