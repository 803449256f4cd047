"""Run the test OAuth 2.0 authorization server + demo API.

    python -m tests.support.authserver --port 0 --data-dir /tmp/authsrv
        [--access-token-lifetime 300] [--redirect-uri URI ...]

Migrates a sqlite DB in DATA_DIR, seeds a user and the applications, serves
with waitress on 127.0.0.1 and, once listening, writes DATA_DIR/ready.json
(base URL, endpoints, client credentials, user password).  Nothing secret is
printed to stdout/stderr.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.support.authserver",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind: loopback (default 127.0.0.1) or, with --allow-private-host, a private address "
        "of the test's own network namespaces (e.g. 10.231.1.1)",
    )
    p.add_argument("--allow-private-host", action="store_true", help="accept a private (RFC 1918) --host")
    p.add_argument("--port", type=int, default=0, help="port (0 = pick a free one; default 0)")
    p.add_argument("--data-dir", required=True, type=Path, help="directory for the sqlite DB and ready file")
    p.add_argument("--ready-file", type=Path, default=None, help="default: DATA_DIR/ready.json")
    p.add_argument("--access-token-lifetime", type=int, default=300, metavar="SECONDS")
    p.add_argument(
        "--refresh-token-lifetime",
        type=int,
        default=None,
        metavar="SECONDS",
        help="refresh token lifetime after its access token expired (default: unlimited)",
    )
    p.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        metavar="URI",
        help="extra redirect URI for the 'ac' and 'public' clients (repeatable)",
    )
    p.add_argument("--no-device", action="store_true", help="do not seed the device-flow client")
    p.add_argument(
        "--device-interval",
        type=int,
        default=1,
        metavar="SECONDS",
        help="polling interval returned by the device authorization endpoint (default 1)",
    )
    p.add_argument(
        "--no-reuse-protection",
        action="store_true",
        help="disable DOT's refresh-token reuse protection (family revocation on replay)",
    )
    p.add_argument(
        "--refresh-grace-seconds",
        type=int,
        default=0,
        metavar="SECONDS",
        help="grace window in which the refresh token just rotated away is still accepted (default 0: none); "
        "also settable at run time through POST /test/config",
    )
    p.add_argument("--threads", type=int, default=32, help="waitress worker threads (default 32)")
    p.add_argument(
        "--exit-with-parent", action="store_true", help="exit when the parent process goes away (used by runner.py)"
    )
    p.add_argument("--fresh", action="store_true", help="delete an existing DB in DATA_DIR first")
    args = p.parse_args(argv)
    try:
        address = ipaddress.ip_address(args.host)
        if not (address.is_loopback or (args.allow_private_host and address.is_private)):
            p.error("--host must be a loopback address (or a private one with --allow-private-host)")
    except ValueError:
        if args.host != "localhost":
            p.error("--host must be a loopback address")
    if args.threads < 1:
        p.error("--threads must be >= 1")
    return args


def _rsa_private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(0)


def _write_ready(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh, indent=2)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    t0 = time.monotonic()
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ready_file: Path = (args.ready_file or data_dir / "ready.json").resolve()
    if ready_file.exists():
        ready_file.unlink()
    db_path = data_dir / "authserver.sqlite3"
    if args.fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)

    if args.exit_with_parent:
        threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()

    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    host_in_url = f"[{args.host}]" if ":" in args.host else args.host
    base_url = f"http://{host_in_url}:{port}"
    device_enabled = not args.no_device

    from . import settings as server_settings
    from . import stats as server_stats

    server_stats.OWN_ADDRESSES.add(args.host)

    server_settings.configure(
        base_url=base_url,
        data_dir=data_dir,
        access_token_lifetime=args.access_token_lifetime,
        refresh_token_lifetime=args.refresh_token_lifetime,
        rsa_private_key_pem=_rsa_private_key_pem(),
        device_enabled=device_enabled,
        device_interval=args.device_interval,
        reuse_protection=not args.no_reuse_protection,
        refresh_grace_seconds=args.refresh_grace_seconds,
    )

    from django.core.management import call_command
    from django.db import connection

    with connection.cursor() as cur:  # WAL is persistent for the DB file
        cur.execute("PRAGMA journal_mode=WAL")
    call_command("migrate", verbosity=0, interactive=False)

    from .seed import seed

    seeded = seed(redirect_uris=args.redirect_uri, device_enabled=device_enabled)
    connection.close()

    from django.core.wsgi import get_wsgi_application
    from waitress import create_server

    app = get_wsgi_application()
    server = create_server(
        app,
        sockets=[sock],
        threads=args.threads,
        connection_limit=2000,
        backlog=1024,
        channel_timeout=120,
        asyncore_use_poll=True,
        expose_tracebacks=False,
        ident="oauth-test-authserver",
    )

    issuer = base_url + "/o"
    payload = {
        "pid": os.getpid(),
        "base_url": base_url,
        "host": args.host,
        "port": port,
        "issuer": issuer,
        "discovery_url": issuer + "/.well-known/openid-configuration",
        "token_url": issuer + "/token/",
        "authorize_url": issuer + "/authorize/",
        "revoke_url": issuer + "/revoke_token/",
        "introspect_url": issuer + "/introspect/",
        "userinfo_url": issuer + "/userinfo/",
        "jwks_url": issuer + "/.well-known/jwks.json",
        "device_url": issuer + "/device-authorization/" if device_enabled else None,
        "device_verification_url": issuer + "/device/" if device_enabled else None,
        "login_url": base_url + "/accounts/login/",
        "api_base": base_url + "/api",
        "stats_url": base_url + "/test/stats",
        "access_token_lifetime": args.access_token_lifetime,
        "refresh_token_reuse_protection": not args.no_reuse_protection,
        "refresh_grace_seconds": args.refresh_grace_seconds,
        "device_interval": args.device_interval,
        "data_dir": str(data_dir),
        "user": seeded["user"],
        "clients": seeded["clients"],
        "startup_seconds": round(time.monotonic() - t0, 3),
    }

    def _terminate(signum, frame):
        try:
            ready_file.unlink(missing_ok=True)
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)

    _write_ready(ready_file, payload)
    print(
        f"authserver listening on {base_url} (ready file {ready_file}, started in {payload['startup_seconds']}s)",
        flush=True,
    )
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
