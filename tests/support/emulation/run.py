"""Every preset's whole flow against the emulations, run inside a private network namespace.

Started by ``tests/integration/test_presets.py`` as
``unshare --net --mount sh -c 'mount --bind HOSTS /etc/hosts; ip link set lo up; exec python -m ...'``:
the providers' real hostnames resolve to 127.0.0.1, where :class:`EmulationServer` answers on port 443 with a
certificate from a CA this run creates (trusted through ``REQUESTS_CA_BUNDLE``). The product runs unchanged.

Per preset: authorize through the CLI (paste or loopback mode, the "browser" being this script), exchange, an
API call, a call after the access token expired (refresh, rotation), and a new process reusing the grant.
Results are written as JSON for the test to check.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

from tests.support.certificates import make_test_ca

SPECS = Path(__file__).with_name("specs.yaml")
URL_LINE = re.compile(r"^\s+(https://\S+)$", re.M)


def load_specs() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(SPECS.read_text())


def hostnames(specs: dict[str, dict[str, Any]]) -> list[str]:
    hosts: set[str] = set()
    for spec in specs.values():
        for part in ("authorize", "token", "post_authorize", "api"):
            if part in spec:
                hosts.add(spec[part]["host"])
    return sorted(hosts)


def cases(specs: dict[str, dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Case name -> (emulation name, case spec); a case is one preset (or a preset with another grant)."""
    return {name: (emulation, case) for emulation, spec in specs.items() for name, case in spec["presets"].items()}


#: The passphrase of the encrypted key in the Box app config (Box's developer console encrypts it).
BOX_PASSPHRASE = "box-passphrase+/= 1"


def _rsa_key(passphrase: str | None = None) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


def signing_keys(specs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """
    Key pairs for the JWT bearer cases: the private half becomes the connection's password (a Google JSON key
    file, a Box app config JSON with an encrypted key, or a PEM key), the public half is registered with the
    emulation (``token.jwt.public_key``).
    """
    passwords: dict[str, str] = {}
    for name, (emulation, case) in cases(specs).items():
        kind = case.get("service_account")
        if not kind:
            continue
        private, public = _rsa_key(BOX_PASSPHRASE if kind == "box_json" else None)
        rules = specs[emulation]["token"]["jwt"]
        rules["public_key"] = public
        if kind == "box_json":
            rules["kid"] = "box-kid-7f3a"
            client = specs[emulation]["client"]
            passwords[name] = json.dumps(
                {
                    "boxAppSettings": {
                        "clientID": client["id"],
                        "clientSecret": client["secret"],
                        "appAuth": {"publicKeyID": rules["kid"], "privateKey": private, "passphrase": BOX_PASSPHRASE},
                    },
                    "enterpriseID": rules["subject"],
                }
            )
        elif kind == "google_json":
            rules.update(issuer="etl@acme-prod.iam.gserviceaccount.com", kid="9f1c2b3a4d")
            passwords[name] = json.dumps(
                {
                    "type": "service_account",
                    "project_id": "acme-prod",
                    "private_key_id": rules["kid"],
                    "private_key": private,
                    "client_email": rules["issuer"],
                    "client_id": "1043",
                    "token_uri": "https://oauth2.googleapis.com/token",
                }
            )
        else:
            passwords[name] = private
    return passwords


# -- Airflow connections -----------------------------------------------------------------------------------


#: Service-account key kinds that are JSON files naming their account (no login needed).
KEY_FILES = ("google_json", "box_json")


def person_grant(case: str, spec: dict[str, Any]) -> bool:
    """Whether the case's grant needs a person: its connection's grant type, else its preset's."""
    from airflow_oauth_connector.presets import load_preset

    grant = spec.get("connection", {}).get("grant_type") or load_preset(spec.get("preset", case)).fields.get(
        "grant_type", "client_credentials"
    )
    return grant == "authorization_code"


def conn_id_of(case: str) -> str:
    return f"preset_{case}"


def create_connection(
    case: str, emulation: dict[str, Any], spec: dict[str, Any], key: str | None, redirect_uri: str
) -> None:
    from airflow.models import Connection
    from airflow.utils.session import create_session

    extra = {"provider": spec.get("preset", case), "redirect_uri": redirect_uri, **spec.get("connection", {})}
    login: str | None = emulation["client"]["id"]
    password = emulation["client"]["secret"]
    if spec.get("service_account"):  # a key file names its account; a PEM key goes with the client id
        login, password = (None if spec["service_account"] in KEY_FILES else login), key
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn_id_of(case)).delete()
        session.add(
            Connection(
                conn_id=conn_id_of(case),
                conn_type="oauth_connector",
                login=login,
                password=password,
                extra=json.dumps(extra),
            )
        )


def export_connection(case: str) -> None:
    """Make the stored connection visible to hooks outside a task (which read connections from the environment)."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter_by(conn_id=conn_id_of(case)).one()
        os.environ[f"AIRFLOW_CONN_{conn_id_of(case).upper()}"] = conn.as_json()


def stored_extra(case: str) -> dict[str, Any]:
    from airflow.models import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter_by(conn_id=conn_id_of(case)).one()
        return dict(conn.extra_dejson)


# -- the "browser" and the CLI -----------------------------------------------------------------------------


class _Input(io.TextIOBase):
    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue()

    def readline(self, size: int = -1) -> str:  # type: ignore[override]
        return self.lines.get(timeout=30)


def authorize_with_cli(case: str, mode: str) -> dict[str, Any]:
    import requests

    from airflow_oauth_connector.cli import main

    out, err, inp = io.StringIO(), io.StringIO(), _Input()
    result: dict[str, int] = {}
    argv = ["authorize", conn_id_of(case), f"--{mode}", "--no-browser", "--timeout", "30"]
    thread = threading.Thread(
        target=lambda: result.setdefault("rc", main(argv, stdin=inp, stdout=out, stderr=err)), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    url = None
    while time.monotonic() < deadline and url is None and thread.is_alive():
        found = URL_LINE.search(out.getvalue())
        url = found.group(1) if found else None
        time.sleep(0.02)
    if url is None:
        thread.join(1)
        return {"rc": result.get("rc"), "output": out.getvalue() + err.getvalue()}
    if mode == "paste":  # the browser lands on the registered redirect URI: the person copies that URL
        answer = requests.get(url, allow_redirects=False, timeout=10)
        inp.lines.put(answer.headers.get("Location", "") + "\n")
    else:  # the browser follows the redirect to the CLI's loopback listener
        requests.get(url, allow_redirects=True, timeout=10)
    thread.join(40)
    return {"rc": result.get("rc"), "output": (out.getvalue() + err.getvalue())[-600:]}


def call(case: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One API call through a fresh hook; ``issued_at`` tells which token it used (renewed or not)."""
    from airflow_oauth_connector.hooks import OAuthConnectorHook

    hook = OAuthConnectorHook(conn_id_of(case))
    try:
        response = hook.run(spec["call"], method=spec.get("method", "GET"))
        token = hook.tokens.current()
        return {
            "status": response.status_code,
            "url": response.url,
            "answer": response.json(),
            "issued_at": None if token is None else token.issued_at,
            "refresh_token_held": token is not None and bool(token.refresh_token),
            # the refresh token's lifetime as captured from the token response (None: not stated)
            "refresh_lifetime": None
            if token is None or token.refresh_expires_at is None
            else token.refresh_expires_at - token.issued_at,
        }
    except Exception as exc:
        return {"status": None, "error": f"{type(exc).__name__}: {exc}"[:500]}


def wrong_secret_error(case: str, emulation: dict[str, Any], spec: dict[str, Any], key: str | None) -> str:
    """The exception a wrong client secret (or a key the provider does not know) gets: the provider's error style."""
    from airflow_oauth_connector.profile import OAuthProfile
    from airflow_oauth_connector.token_client import TokenClient

    extra = {"provider": spec.get("preset", case), **spec.get("connection", {})}
    login: str | None = emulation["client"]["id"]
    password = "wrong-secret"
    if spec.get("service_account") == "google_json":
        document = json.loads(key or "{}")
        document["private_key"] = _rsa_key()[0]
        login, password = None, json.dumps(document)
    elif spec.get("service_account") == "box_json":  # a key Box does not know, encrypted like Box's
        document = json.loads(key or "{}")
        document["boxAppSettings"]["appAuth"]["privateKey"] = _rsa_key(BOX_PASSPHRASE)[0]
        login, password = None, json.dumps(document)
    elif spec.get("service_account"):
        password = _rsa_key()[0]
    profile = OAuthProfile.from_fields("wrong", host=None, login=login, password=password, extra=extra)
    client = TokenClient(profile)
    try:
        if profile.grant_type.needs_person:
            client.refresh("rt-unknown")
        else:
            client.obtain_without_person()
    except Exception as exc:
        return type(exc).__name__
    return "no error"


# -- phases ------------------------------------------------------------------------------------------------


def run_main(work: Path, results_file: Path) -> int:
    from tests.support.emulation.server import TOKEN_LIFETIME, EmulationServer

    started = time.monotonic()
    specs = load_specs()
    hosts = hostnames(specs)
    ca_file, cert_file, key_file = make_test_ca(work, [*hosts, "127.0.0.1"], label="oauth-connector emulation test CA")
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca_file)
    keys = signing_keys(specs)
    server = EmulationServer(specs, str(cert_file), str(key_file))
    server.start()
    all_cases = cases(specs)
    results: dict[str, dict[str, Any]] = {name: {"emulation": emulation} for name, (emulation, _) in all_cases.items()}
    try:
        for index, (name, (emulation, spec)) in enumerate(all_cases.items()):
            emu = specs[emulation]
            mode = "paste" if index % 2 == 0 else "loopback"
            create_connection(name, emu, spec, keys.get(name), "https://airflow.example.com/oauth-connector/callback")
            record = results[name]
            try:
                if "authorize" in emu and not spec.get("service_account") and person_grant(name, spec):
                    record["mode"] = mode
                    record["authorize"] = authorize_with_cli(name, mode)
                    record["captured"] = stored_extra(name).get("captured", {})
                export_connection(name)
                record["first_call"] = call(name, spec)
            except Exception:
                record["failure"] = traceback.format_exc()[-1500:]
        before = {name: dict(server.providers[e].stats) for name, (e, _) in all_cases.items()}
        time.sleep(TOKEN_LIFETIME + 0.5)  # every access token the emulations issued has now expired
        for name, (_emulation, spec) in all_cases.items():
            results[name]["after_expiry"] = call(name, spec)
        middle = {name: dict(server.providers[e].stats) for name, (e, _) in all_cases.items()}
        time.sleep(TOKEN_LIFETIME + 0.5)
        env = dict(os.environ)
        reuse = subprocess.run(
            [sys.executable, "-m", "tests.support.emulation.run", "--work", str(work), "--phase", "reuse"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        reused = json.loads((work / "reuse.json").read_text()) if (work / "reuse.json").exists() else {}
        for name, (emulation, spec) in all_cases.items():
            record = results[name]
            after = dict(server.providers[emulation].stats)
            record["new_process"] = reused.get(name, {"status": None, "error": reuse.stderr[-800:]})
            record["stats"] = {"before_expiry": before[name], "after_expiry": middle[name], "after_new_process": after}
            record["expiring"] = specs[emulation].get("expiring", True)
            record["rotation"] = bool(specs[emulation]["token"].get("rotation"))
            # the token looked valid to the client when the API decided it expired: the API's answer renews it
            record["renew_signal"] = "stated_expires_in" in specs[emulation]["token"]
            record["person"] = "authorize" in record
            record["wrong_secret_error"] = wrong_secret_error(name, specs[emulation], spec, keys.get(name))
            record["expected_wrong_secret_error"] = spec.get(
                "wrong_secret_error", "InvalidGrantError" if spec.get("service_account") else "InvalidClientError"
            )
            record["expected_captured"] = spec.get("captured", {})
    finally:
        server.stop()
    results_file.write_text(json.dumps(results, indent=1, default=str))
    print(f"emulation run: {len(all_cases)} cases in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


def run_reuse(work: Path) -> int:
    """A new process: the grant (and its rotated refresh token) comes from the token store and the connection."""
    specs = load_specs()
    out = {name: call(name, spec) for name, (_, spec) in cases(specs).items()}
    (work / "reuse.json").write_text(json.dumps(out, default=str))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--phase", choices=["main", "reuse"], default="main")
    parser.add_argument("--results")
    args = parser.parse_args()
    work = Path(args.work)
    if args.phase == "reuse":
        return run_reuse(work)
    return run_main(work, Path(args.results))


if __name__ == "__main__":
    sys.exit(main())
