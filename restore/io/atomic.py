"""Atomic file replacement: a reader never sees a half-written file under its final name."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from restore.errors import DataError

__all__ = ["TEMP_PREFIX", "atomic_writer"]

# Temporary files start with this prefix so that a crash leftover is recognisable (and ignored by
# folder listings that skip dot-files).
TEMP_PREFIX = ".restore-tmp-"


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
        handle, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=folder)
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
