"""Shared test fixtures. Tests read ../shared in place; CI sets RESTORE_REQUIRE_SHARED=1 so a missing
folder fails loudly instead of skipping."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from restore.paths import data_root, shared_root


def _require(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("RESTORE_REQUIRE_SHARED"):
            pytest.fail(f"required shared data missing: {path}")
        pytest.skip(f"shared data not present: {path}")
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    return _require(shared_root())


@pytest.fixture(scope="session")
def conformance_dir(shared: Path) -> Path:
    return _require(shared / "conformance")


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    return _require(data_root())


@pytest.fixture(scope="session")
def reference_dir(shared: Path) -> Path:
    return _require(shared / "reference")


@pytest.fixture()
def training_crops(tmp_path: Path, datasets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Six 96x96 crops of training images (never a benchmark set) in a temporary folder, with a private patch cache."""
    from PIL import Image

    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "crops"
    folder.mkdir()
    for i, source in enumerate(sorted((datasets_dir / "train" / "BSD200").iterdir())[:6]):
        Image.open(source).convert("RGB").crop((100, 100, 196, 196)).save(folder / f"crop{i}.png")
    return folder
