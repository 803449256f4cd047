"""Child processes of the test session: in a group of their own, logged to a file, never outliving the session."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


def spawn_logged(argv: Sequence[str], env: Mapping[str, str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """
    ``argv`` in a process group of its own (stop it with :func:`killpg`), its output appended to ``log_path``;
    on Linux it gets SIGTERM when the test process dies.
    """
    with open(log_path, "ab") as log_fh:
        return subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=str(cwd),
            stdin=subprocess.DEVNULL,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
        )


def killpg(pgid: int, sig: signal.Signals) -> None:
    """Signal a process group started by :func:`spawn_logged` (gone already: nothing to do)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies (Linux ``PR_SET_PDEATHSIG``)."""
    with contextlib.suppress(Exception):  # best effort only
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 == PR_SET_PDEATHSIG
