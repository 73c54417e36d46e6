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
