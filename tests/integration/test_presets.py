"""Every provider preset's whole flow against an emulation of that provider, at the provider's real URLs.

The emulations (``tests/support/emulation/specs.yaml``, each citing the vendor pages it follows) run inside a
private network namespace (``unshare --net --mount``) whose ``/etc/hosts`` maps the providers' hostnames to
127.0.0.1 and whose HTTPS certificate comes from a CA the run creates, trusted via ``REQUESTS_CA_BUNDLE``. The
product is not told anything: the presets' production URLs are used unchanged. One namespace serves all presets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.emulation.run import cases, hostnames, load_specs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
CASES = sorted(cases(load_specs()))


def _namespaces_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "private network namespaces need root (unshare --net --mount)"
    if not (shutil.which("unshare") and shutil.which("ip") and shutil.which("mount")):
        return "unshare, ip or mount is not installed"
    probe = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        return f"unshare --net --mount is not permitted here: {probe.stderr.decode(errors='replace')[:200]}"
    return None


@pytest.fixture(scope="module")
def flows(airflow_db: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    reason = _namespaces_unavailable()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("presets")
    hosts = work / "hosts"
    hosts.write_text(
        "127.0.0.1 localhost\n::1 localhost\n" + "".join(f"127.0.0.1 {h}\n" for h in hostnames(load_specs()))
    )
    results = work / "results.json"
    env = dict(os.environ)
    env.update(
        AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE="file",
        AIRFLOW__OAUTH_CONNECTOR__TOKEN_DIRECTORY=str(work / "tokens"),
        PYTHONPATH=str(REPO),
        REQUESTS_CA_BUNDLE=str(work / "ca.pem"),
    )
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    script = 'mount --bind "$0" /etc/hosts && ip link set lo up && exec "$@"'
    command = [
        "unshare", "--net", "--mount", "sh", "-c", script, str(hosts),
        sys.executable, "-m", "tests.support.emulation.run", "--work", str(work), "--results", str(results),
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert run.returncode == 0, f"emulation run failed: {run.stderr[-3000:]}"
    (work / "stderr.txt").write_text(run.stderr)
    print(f"\n{run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ''} (results: {results})")
    return json.loads(results.read_text())


@pytest.mark.parametrize("case", CASES)
def test_preset_whole_flow(flows: dict[str, dict[str, Any]], case: str) -> None:
    r = flows[case]
    assert "failure" not in r, r.get("failure")
    before, middle, after = (r["stats"][k] for k in ("before_expiry", "after_expiry", "after_new_process"))
    if r["person"]:  # authorized through the CLI (paste or loopback), the code exchanged once
        assert r["authorize"]["rc"] == 0, r["authorize"]["output"]
        assert before["authorize"] >= 1
        assert before["exchange"] >= 1
        assert r["captured"] == {**r["captured"], **r["expected_captured"]}
    # the API call reached the emulated API with the token where the provider wants it
    assert r["first_call"]["status"] == 200, r["first_call"]
    # across an expiry: renewed (refresh token or a new grant) and the call succeeds
    assert r["after_expiry"]["status"] == 200, r["after_expiry"]
    renewals = lambda s: s["refresh"] + s["grant"]  # noqa: E731
    first, renewed = r["first_call"]["issued_at"], r["after_expiry"]["issued_at"]
    if r["expiring"]:
        assert renewals(middle) > renewals(before), (before, middle)
        assert renewed > first, "the call after the expiry used the expired token"
    else:
        assert renewals(middle) == renewals(before), "a token that does not expire was renewed"
        assert renewed == first
    if r["renew_signal"]:  # the API called a token expired that the client held valid (renew_on)
        assert middle["api_401"] - before["api_401"] == 1, "the API's expired-token answer came once, then the replay"
        assert renewals(middle) - renewals(before) == 1, "one renewal for the API's expired-token answer"
        assert after["api_401"] - middle["api_401"] == 1, "the new process renewed on the same answer, once"
    # a new process reuses the grant: the stored (and, with rotation, rotated) refresh token works
    assert r["new_process"]["status"] == 200, r["new_process"]
    assert after["exchange"] == before["exchange"], "the new process must not need a new authorization"
    assert after["reuse"] == 0, "a rotated-away refresh token was replayed (reuse detection revoked the grant)"
    if r["expiring"] and r["person"]:
        assert after["refresh"] > middle["refresh"]
    # the provider's own error style becomes the typed error
    assert r["wrong_secret_error"] == r["expected_wrong_secret_error"]
    # a refresh token lifetime the token response states (refresh_token_expires_in) is captured with the token
    exchange, refresh = _stated_refresh_lifetimes(r["emulation"])
    if exchange is not None and r["person"]:  # a stated lifetime comes with a refresh token: it is checked below
        assert r["first_call"]["refresh_token_held"]
    for answer, stated in ((r["first_call"], exchange), (r["after_expiry"], refresh)):
        expected = stated if answer["refresh_token_held"] else None
        assert answer["refresh_lifetime"] == (None if expected is None else pytest.approx(expected, abs=0.01))


def _stated_refresh_lifetimes(emulation: str) -> tuple[float | None, float | None]:
    """The refresh token lifetime the emulation's code exchange and refresh responses state (None: none)."""
    token = load_specs()[emulation]["token"]
    exchange = token.get("expiring_response") if "expiring_when" in token else None
    exchange = exchange or token["response"]
    refresh = token.get("refresh_response") or token["response"]

    def stated(template: dict[str, Any]) -> float | None:
        value = template.get("refresh_token_expires_in", template.get("x_refresh_token_expires_in"))
        return None if value is None else float(value)

    return stated(exchange), stated(refresh)
