"""Atomic file replacement: a reader never sees a half-written file under its final name."""
from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from restore.errors import DataError

__all__ = ["TEMP_PREFIX", "atomic_writer", "remove_stale_temp_files"]

# Temporary files start with this prefix so that a crash leftover is recognisable (and ignored by
# folder listings that skip dot-files). The writer's process id follows it, so that a later run can
# tell a leftover of a dead process from a file another live process is still writing.
TEMP_PREFIX = ".restore-tmp-"
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-")
# A leftover without a process id (written before ids were added) counts as stale after this long.
_UNOWNED_STALE_SECONDS = 3600


def _read_umask() -> int:
    # The only portable way to read the umask is to set it; done once, at import, before any
    # writer threads exist.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files 0600; a finished output gets the permissions a plain open() would give.
_FILE_MODE = 0o666 & ~_read_umask()


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yield a binary stream whose bytes replace ``path`` in one rename when the block succeeds.

    The temporary file lives in the destination folder (a rename across file systems would not be
    atomic); on any exception, KeyboardInterrupt included, it is deleted and ``path`` is untouched.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise DataError(f"{path}: output folder {folder} does not exist")
    try:
        handle, temp_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=path.suffix, dir=folder)
    except OSError as exc:
        raise DataError(f"{path}: cannot write in {folder} ({exc.strerror or exc})") from exc
    try:
        os.chmod(temp_name, _FILE_MODE)
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, OSError):
        return True  # someone else's process (or an id we cannot check): not ours to judge, keep its file
    return True


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed writers left in ``folder`` (not below it); return them.

    Only regular files named with :data:`TEMP_PREFIX` are considered, never links or folders; a file
    whose writer process is still alive is kept, so two runs into one folder do not break each other.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        owner = _TEMP_NAME.match(entry.name)
        if owner is not None:
            pid = int(owner.group(1))
            stale = pid != os.getpid() and not _process_alive(pid)
        else:
            stale = now - info.st_mtime > _UNOWNED_STALE_SECONDS
        if stale:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed
