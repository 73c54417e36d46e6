"""Where the app writes results: a private output root, one unguessable folder per job, and a clean-up
that removes only folders it made.

The root is created 0700 and must be a real folder of this user: a symbolic link (or a folder someone
else made in a shared temp directory) could point the clean-up, and the file route that serves
results, at anything. Job folders are named ``job-`` + 128 random bits, since the file route serves
any of them to whoever knows the name, and carry a marker file; the hourly clean-up deletes a
folder only when it has that name, that marker and no link on the way, and deletes it without
following links inside.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import time
from pathlib import Path

from restore.errors import RestoreError

__all__ = ["JOB_MARKER", "KEEP_OUTPUTS_SECONDS", "new_job_folder", "prepare_output_root", "remove_expired_jobs"]

# Result folders older than this are removed when a new job starts: the browser has long downloaded them.
KEEP_OUTPUTS_SECONDS = 3600
JOB_MARKER = ".restore-job"
_JOB_NAME = re.compile(r"job-[0-9a-f]{32}")
_ROOT_MODE = 0o700


def prepare_output_root(root: str | os.PathLike) -> Path:
    """Create (0700) or check the output root; return it with its parent's links resolved.

    Raises RestoreError when the root is a symbolic link, not a folder, or owned by another user.
    """
    root = Path(root)
    parent = Path(os.path.realpath(root.parent))
    parent.mkdir(parents=True, exist_ok=True)
    root = parent / root.name
    try:
        os.mkdir(root, _ROOT_MODE)
    except FileExistsError:
        pass
    except OSError as exc:
        raise RestoreError(f"app output folder {root}: cannot create it ({exc.strerror or exc})") from exc
    info = os.lstat(root)
    advice = "remove it, or start the app with another --output-dir (RESTORE_APP_OUTPUT_DIR)"
    if stat.S_ISLNK(info.st_mode):
        raise RestoreError(f"app output folder {root} is a symbolic link; refusing to follow it: {advice}")
    if not stat.S_ISDIR(info.st_mode):
        raise RestoreError(f"app output folder {root} exists and is not a folder: {advice}")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise RestoreError(f"app output folder {root} belongs to another user (uid {info.st_uid}): {advice}")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(root, _ROOT_MODE)
    return root


def _is_own_job(entry: os.DirEntry) -> bool:
    """A folder this module made: the job name pattern, a real folder (not a link), and the marker file."""
    if not _JOB_NAME.fullmatch(entry.name) or not entry.is_dir(follow_symlinks=False):
        return False
    try:
        return stat.S_ISREG(os.lstat(os.path.join(entry.path, JOB_MARKER)).st_mode)
    except OSError:
        return False


def remove_expired_jobs(root: str | os.PathLike, max_age: float = KEEP_OUTPUTS_SECONDS) -> list[Path]:
    """Delete this app's job folders under ``root`` older than ``max_age`` seconds; return them.

    Anything else in the root (other folders, files, links) is left alone, and deletion never follows
    a link (``shutil.rmtree`` removes a link inside a job folder, not what it points to).
    """
    cutoff = time.time() - max_age
    removed: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        try:
            if not _is_own_job(entry) or entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                continue
        except OSError:
            continue  # another worker removed it first
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    return removed


def new_job_folder(root: str | os.PathLike) -> Path:
    """A fresh, unguessable folder for one job's outputs (expired jobs are cleaned up first)."""
    root = prepare_output_root(root)
    remove_expired_jobs(root)
    folder = root / f"job-{secrets.token_hex(16)}"
    os.mkdir(folder, _ROOT_MODE)
    marker = os.open(folder / JOB_MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    os.close(marker)
    return folder
