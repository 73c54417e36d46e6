"""The image sets restore knows: where each lives under the data root, what it must contain, and checks.

The registry is the repository's ``datasets/`` folder: ``registry.json`` (role, folder, counts, origin,
licence of each set) and one ``<name>.tsv`` per set with every file's size and checksums. Benchmark
sets keep ``HR/<name>.png`` and ``LR_bicubic/X<s>/<name>x<s>.png``; a set without LR at some scale
(BSD100 has only X4) makes :meth:`Dataset.lr_path` return None so callers degrade the HR themselves.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from restore.errors import DataError
from restore.hashing import sha256_file
from restore.paths import REPO_ROOT, data_root

REGISTRY_DIR = REPO_ROOT / "datasets"
BENCHMARK_SETS = ("Set5", "Set14", "BSD100", "Urban100", "Manga109")
# Files the data root keeps beside the images that are not part of any set.
_BOOKKEEPING_FILES = {"MANIFEST.tsv", "SHA256SUMS", "README.md", "LICENSE", ".DS_Store"}


@dataclass(frozen=True)
class FileEntry:
    """One registered file; checksums are empty strings where the registry does not know them."""

    path: str
    width: int
    height: int
    bytes: int | None
    sha256: str
    pixel_sha256: str
    alternate: str
    alternate_sha256: str


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    aliases: tuple[str, ...]
    role: str  # "benchmark", "training" or "style"
    folder: str  # relative to the data root
    images: int  # HR (or plain) images, LR files not counted
    lr_scales: tuple[int, ...]
    registry: str | None
    hr_pattern: str | None
    source: str
    licence: str


@dataclass
class Mismatch:
    path: str
    what: str  # "bytes", "sha256", "pixel sha256", "unreadable"
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what} is {self.actual}, expected {self.expected}"


@dataclass
class DatasetReport:
    """What :func:`check_dataset` found; ``ok`` when the set is present and matches its registry."""

    name: str
    folder: Path
    present: bool
    expected_files: int
    found_files: int
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    count_problems: list[str] = field(default_factory=list)  # for sets registered by count only
    checked: str = "sha256"  # or "sizes" (quick mode)
    absent_message: str = ""

    @property
    def ok(self) -> bool:
        return self.present and not (self.missing or self.extra or self.mismatches or self.count_problems)

    def problems(self) -> list[str]:
        """One human-readable line per problem, each naming the file concerned."""
        if not self.present:
            return [self.absent_message]
        lines = [f"{self.name}: {problem}" for problem in self.count_problems]
        lines += [f"{self.name}: missing {self.folder / path}" for path in self.missing]
        lines += [f"{self.name}: unexpected file {self.folder / path}" for path in self.extra]
        lines += [f"{self.name}: {self.folder / m.path}: {m.what} is {m.actual}, expected {m.expected}"
                  for m in self.mismatches]
        return lines

    def raise_for_problems(self) -> None:
        if not self.ok:
            raise DataError("\n".join(self.problems()))


class Dataset:
    """A registered set located under a data root."""

    def __init__(self, spec: DatasetSpec, root: Path) -> None:
        self.spec = spec
        self.root = root
        self.folder = root / spec.folder

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, folder={str(self.folder)!r})"

    def entries(self) -> list[FileEntry]:
        """Every registered file (HR and LR); empty for sets registered by count only."""
        return list(_read_entries(self.spec.registry)) if self.spec.registry else []

    def hr_entries(self) -> list[FileEntry]:
        return [entry for entry in self.entries() if not entry.path.startswith("LR_")]

    def is_present(self) -> bool:
        """True when at least one of the set's images is under the data root."""
        if self.spec.registry is None:
            return any(self.folder.glob(self.spec.hr_pattern or "*"))
        return any(_locate(self.folder, entry) is not None for entry in self.hr_entries())

    def count_present(self) -> int:
        """How many of the set's HR (or plain) images are on disk, without checking their contents."""
        if self.spec.registry is None:
            return len(list(self.folder.glob(self.spec.hr_pattern or "*")))
        return sum(_locate(self.folder, entry) is not None for entry in self.hr_entries())

    def hr_paths(self) -> list[Path]:
        """The HR (or, for training / style sets, the plain) images in registry order.

        Raises DataError naming what is missing and where it goes when any image is absent.
        """
        if self.spec.registry is None:
            found = sorted(self.folder.glob(self.spec.hr_pattern or "*"))
            if not found:
                raise DataError(self.absent_message())
            if len(found) != self.spec.images:
                pattern = self.folder / (self.spec.hr_pattern or "*")
                raise DataError(f"{self.name}: {len(found)} images match {pattern}, expected {self.spec.images}")
            return found
        entries = self.hr_entries()
        located = [_locate(self.folder, entry) for entry in entries]
        missing = [entry.path for entry, path in zip(entries, located) if path is None]
        if len(missing) == len(entries):
            raise DataError(self.absent_message())
        if missing:
            shown = ", ".join(str(self.folder / path) for path in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise DataError(f"{self.name}: {len(missing)} of {len(entries)} images missing: {shown}{more}; "
                            "run `restore datasets check` for the full list")
        return [path for path in located if path is not None]

    def lr_path(self, name: str, scale: int) -> Path | None:
        """``LR_bicubic/X<scale>/<name>x<scale>.png`` when the set has LR at that scale, else None.

        ``name`` is the HR file's stem ("baby"). None means: degrade the HR image yourself.
        """
        if scale not in self.spec.lr_scales:
            return None
        return self.folder / "LR_bicubic" / f"X{scale}" / f"{name}x{scale}.png"

    def absent_message(self) -> str:
        """What is missing and where it goes, for a set with none of its images present."""
        spec = self.spec
        hr = self.hr_entries()
        if hr:
            names = f"{hr[0].path} ... {hr[-1].path}" if len(hr) > 1 else hr[0].path
            if hr[0].alternate:
                names += f" (or the originals {hr[0].alternate} ... {hr[-1].alternate})"
        else:
            names = spec.hr_pattern or "*"
        return (f"{spec.name} is absent: none of its {spec.images} images are in {self.folder}; "
                f"expected {names} there. Source: {spec.source}. Licence: {spec.licence}.")


def list_datasets() -> list[DatasetSpec]:
    """Every registered set, benchmarks first, in registry order."""
    return list(_registry().values())


def resolve_name(name: str) -> str:
    """Canonical set name for ``name``, an alias (B100 -> BSD100) or any capitalisation of either."""
    wanted = name.strip().lower()
    for spec in _registry().values():
        if wanted in {spec.name.lower(), *(alias.lower() for alias in spec.aliases)}:
            return spec.name
    known = ", ".join(spec.name for spec in _registry().values())
    raise DataError(f"unknown dataset {name!r}; known: {known} (alias B100 = BSD100)")


def get_dataset(name: str, root: str | os.PathLike | None = None) -> Dataset:
    """The set called ``name`` (aliases allowed) under ``root`` (default: restore.paths.data_root())."""
    return Dataset(_registry()[resolve_name(name)], data_root(root))


def check_dataset(
    name: str, root: str | os.PathLike | None = None, verify_checksums: bool = True
) -> DatasetReport:
    """Compare a set on disk with its registry: counts, missing and extra files, sizes or checksums.

    ``verify_checksums=False`` (quick) compares file sizes only, or image dimensions where the
    registry has no size. Never raises for data problems: see ``report.problems()`` /
    ``report.raise_for_problems()``.
    """
    dataset = get_dataset(name, root)
    mode = "sha256" if verify_checksums else "sizes"
    if dataset.spec.registry is None:
        return _check_count_only(dataset, mode)
    entries = dataset.entries()
    report = DatasetReport(dataset.name, dataset.folder, dataset.is_present(), len(entries), 0, checked=mode)
    if not report.present:
        report.absent_message = dataset.absent_message()
        return report
    accounted: set[str] = set()
    for entry in entries:
        path = _locate(dataset.folder, entry)
        if path is None:
            report.missing.append(entry.path)
            continue
        relative = path.relative_to(dataset.folder).as_posix()
        accounted.add(relative)
        report.found_files += 1
        mismatch = _compare(path, relative, entry, verify_checksums)
        if mismatch is not None:
            report.mismatches.append(mismatch)
    report.extra = sorted(
        relative for relative in _files_under(dataset.folder)
        if relative not in accounted and Path(relative).name not in _BOOKKEEPING_FILES
    )
    return report


def _check_count_only(dataset: Dataset, mode: str) -> DatasetReport:
    pattern = dataset.spec.hr_pattern or "*"
    found = sorted(dataset.folder.glob(pattern))
    report = DatasetReport(dataset.name, dataset.folder, bool(found), dataset.spec.images, len(found), checked=mode)
    if not found:
        report.absent_message = dataset.absent_message()
    elif len(found) != dataset.spec.images:
        report.count_problems.append(
            f"{len(found)} images match {dataset.folder / pattern}, expected {dataset.spec.images}"
        )
    return report


def _compare(path: Path, relative: str, entry: FileEntry, verify_checksums: bool) -> Mismatch | None:
    is_alternate = relative == entry.alternate
    if not verify_checksums:
        if entry.bytes is not None and not is_alternate:
            size = path.stat().st_size
            return None if size == entry.bytes else Mismatch(relative, "bytes", str(entry.bytes), str(size))
        return _compare_dimensions(path, relative, entry)
    if is_alternate:
        return _compare_digest(relative, "sha256", entry.alternate_sha256, sha256_file(path))
    if entry.sha256:
        return _compare_digest(relative, "sha256", entry.sha256, sha256_file(path))
    try:
        actual = pixel_sha256(path)
    except OSError as exc:
        return Mismatch(relative, "unreadable", "an image", str(exc))
    return _compare_digest(relative, "pixel sha256", entry.pixel_sha256, actual)


def _compare_digest(relative: str, what: str, expected: str, actual: str) -> Mismatch | None:
    return None if actual == expected else Mismatch(relative, what, expected, actual)


def _compare_dimensions(path: Path, relative: str, entry: FileEntry) -> Mismatch | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            size = image.size
    except OSError as exc:
        return Mismatch(relative, "unreadable", "an image", str(exc))
    expected = (entry.width, entry.height)
    return None if size == expected else Mismatch(relative, "size", "%dx%d" % expected, "%dx%d" % size)


def pixel_sha256(path: Path) -> str:
    """sha256 of the image decoded to an RGB uint8 array (H, W, 3), row-major."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    return hashlib.sha256(pixels.tobytes()).hexdigest()



def _locate(folder: Path, entry: FileEntry) -> Path | None:
    for relative in (entry.path, entry.alternate):
        if relative and (folder / relative).is_file():
            return folder / relative
    return None


def _files_under(folder: Path) -> list[str]:
    return [path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()]


@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, DatasetSpec]:
    index_path = REGISTRY_DIR / "registry.json"
    if not index_path.is_file():
        raise DataError(f"the dataset registry {index_path} is missing from this checkout")
    specs = {}
    for raw in json.loads(index_path.read_text())["datasets"]:
        specs[raw["name"]] = DatasetSpec(
            name=raw["name"], aliases=tuple(raw["aliases"]), role=raw["role"], folder=raw["folder"],
            images=int(raw["images"]), lr_scales=tuple(raw["lr_scales"]), registry=raw["registry"],
            hr_pattern=raw.get("hr_pattern"), source=raw["source"], licence=raw["licence"],
        )
    return specs


@functools.lru_cache(maxsize=None)
def _read_entries(registry: str) -> tuple[FileEntry, ...]:
    with open(REGISTRY_DIR / registry, newline="") as handle:
        return tuple(
            FileEntry(
                path=row["path"], width=int(row["width"]), height=int(row["height"]),
                bytes=int(row["bytes"]) if row["bytes"] else None, sha256=row["sha256"],
                pixel_sha256=row["pixel_sha256"], alternate=row["alternate"],
                alternate_sha256=row["alternate_sha256"],
            )
            for row in csv.DictReader(handle, delimiter="\t")
        )
