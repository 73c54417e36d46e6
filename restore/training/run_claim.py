"""Claims on run folders, so that several workers walking one plan (one per core) never train the same run.

A worker claims a run by writing ``claim.json`` (its pid and host) into the run's folder, under an exclusive lock on
a file the workers share, and deletes the claim when the run ends or stops. A claim whose process is gone (a worker
killed with SIGKILL, a machine restarted) is taken over; one from another host is left alone, since its process
cannot be checked from here.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

CLAIM_FILE = "claim.json"


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (created if missing) for the block: one worker at a time."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _holder_alive(claim: Path) -> bool:
    try:
        holder = json.loads(claim.read_text())
    except (OSError, ValueError):
        return False  # written under the lock, so an unreadable claim is a torn one from a crash
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def claim_run(run_dir: Path, lock_path: Path) -> bool:
    """Claim ``run_dir`` for this process; False when a live worker holds it."""
    claim = run_dir / CLAIM_FILE
    with exclusive(lock_path):
        if claim.exists() and _holder_alive(claim):
            return False
        run_dir.mkdir(parents=True, exist_ok=True)
        claim.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n")
    return True


def release_run(run_dir: Path, lock_path: Path) -> None:
    """Drop this process's claim on ``run_dir`` (another's, taken over meanwhile, is left)."""
    claim = run_dir / CLAIM_FILE
    with exclusive(lock_path):
        with contextlib.suppress(OSError, ValueError):
            if json.loads(claim.read_text()).get("pid") == os.getpid():
                claim.unlink()
