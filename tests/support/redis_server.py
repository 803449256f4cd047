"""A throw-away ``redis-server`` for integration tests: bound where the test says, with an ACL user, TLS, AOF.

:func:`start_redis` runs Debian's ``redis-server`` as a child process (never the machine's own Redis), e.g.::

    server = start_redis(tmp, bind="10.231.1.1", user="oauth", tls=True, appendonly=True)
    server.url          # rediss://oauth:<password>@10.231.1.1:<port>/0 (password in the URL, CA separately)
    server.ca_file      # the test CA that signed the server certificate (SAN: the bound address)
    server.restart()    # stop (SIGTERM: an AOF is flushed) and start again on the same port and data
    server.stop()

With ``user``, the ``default`` user is disabled and only ``user`` (a random password, all keys and commands)
may log in, as production Redis is run with ``requirepass``/ACLs; with ``tls``, only the TLS port listens.
:func:`redis_unavailable` says why no server can be started here (no ``redis-server``; no TLS in its build).
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tests.support.certificates import make_test_ca
from tests.support.processes import die_with_parent

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def redis_unavailable(*, tls: bool = False) -> str | None:
    """``None`` if a ``redis-server`` (with TLS when ``tls``) can be started here, else why not."""
    if not Path(REDIS_SERVER).is_file():
        return "redis-server is not installed (Debian: apt-get install redis-server)"
    if tls:
        result = subprocess.run(
            [REDIS_SERVER, "--tls-port", "0", "--port", "0", "--test-memory", "0"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if "tls" in (result.stdout + result.stderr).lower() and "not" in (result.stdout + result.stderr).lower():
            return f"this redis-server build has no TLS: {(result.stdout + result.stderr).strip()[:200]}"
    return None


@dataclass
class RedisServer:
    """A running throw-away ``redis-server``; see the module docstring."""

    directory: Path
    bind: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    appendonly: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, db: int = 0) -> str:
        """The client URL (``rediss://`` with TLS), the credentials included."""
        scheme = "rediss" if self.tls else "redis"
        auth = f"{quote(self.user, safe='')}:{quote(self.password or '', safe='')}@" if self.user else ""
        return f"{scheme}://{auth}{self.bind}:{self.port}/{db}"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    def _argv(self) -> list[str]:
        argv = [
            REDIS_SERVER,
            "--bind", self.bind,
            "--dir", str(self.directory),
            "--logfile", str(self.log_path),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--maxclients", "2000",
        ]  # fmt: skip
        if self.tls:
            argv += [
                "--port", "0", "--tls-port", str(self.port),
                "--tls-cert-file", str(self.cert_file), "--tls-key-file", str(self.key_file),
                "--tls-ca-cert-file", str(self.ca_file), "--tls-auth-clients", "no",
            ]  # fmt: skip
        else:
            argv += ["--port", str(self.port)]
        if self.user:
            argv += ["--user", "default", "off", "--user", self.user, "on", f">{self.password}", "~*", "&*", "+@all"]
        else:
            argv += ["--protected-mode", "no"]
        return argv

    def start(self, timeout: float = 15.0) -> None:
        with open(self.directory / "stdout.log", "ab") as out:
            self.process = subprocess.Popen(
                self._argv(), stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
            )  # a test process killed outright leaves no redis-server behind
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.process.returncode}): {self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection((self.bind, self.port), timeout=0.5):
                if self.ping():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server not ready within {timeout:.0f} s: {self.log_tail()}")
            time.sleep(0.1)

    def client(self, db: int = 0):  # type: ignore[no-untyped-def]
        import redis

        kwargs = {"ssl_ca_certs": str(self.ca_file)} if self.tls else {}
        return redis.Redis.from_url(self.url(db), socket_timeout=5, socket_connect_timeout=5, **kwargs)

    def ping(self) -> bool:
        import redis

        try:
            with contextlib.closing(self.client()) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)

    def restart(self, down_for: float = 0.0) -> None:
        """Stop, stay down ``down_for`` seconds, start again on the same port and data directory."""
        self.stop()
        time.sleep(down_for)
        self.start()


def _free_port(bind: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((bind, 0))
        return int(s.getsockname()[1])


def start_redis(
    directory: Path,
    *,
    bind: str = "127.0.0.1",
    user: str | None = None,
    tls: bool = False,
    appendonly: bool = False,
) -> RedisServer:
    """Start a ``redis-server`` in ``directory`` (see the module docstring); raise ``RuntimeError`` if it fails."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    server = RedisServer(
        directory=directory,
        bind=bind,
        port=_free_port(bind),
        user=user,
        password=secrets.token_urlsafe(24) if user else None,
        tls=tls,
        appendonly=appendonly,
    )
    if tls:
        server.ca_file, server.cert_file, server.key_file = make_test_ca(directory / "tls", [bind])
    server.start()
    return server
