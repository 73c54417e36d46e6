"""The strict official-checkpoint loader: formats, wrappers, dtype, and the errors for files that do not fit."""
from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from restore import CheckpointError, build_model, load_official
from restore.errors import WeightsError

RCAN_TINY = dict(n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4)
RDN_TINY = dict(G0=16, D=3, C=3, G=8)


def _tiny_rcan(scale: int = 2, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("rcan", scale, **RCAN_TINY)


def _assert_same_weights(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    loaded = model.state_dict()
    assert loaded.keys() == state_dict.keys()
    for key, value in state_dict.items():
        torch.testing.assert_close(loaded[key], value.to(loaded[key].dtype), rtol=0, atol=0, msg=key)


def test_checkpoint_error_is_a_weights_error() -> None:
    assert issubclass(CheckpointError, WeightsError)


def test_pt_round_trip(tmp_path: Path) -> None:
    source = _tiny_rcan(seed=1).state_dict()
    path = tmp_path / "RCAN_BIX2.pt"
    torch.save(source, path)
    target = _tiny_rcan(seed=2)
    assert load_official(target, path) is target
    _assert_same_weights(target, source)


def test_legacy_pickle_format_round_trip(tmp_path: Path) -> None:
    # Official RCAN .pt files predate the zip container.
    source = _tiny_rcan(seed=1).state_dict()
    path = tmp_path / "legacy.pth"
    torch.save(source, path, _use_new_zipfile_serialization=False)
    target = load_official(_tiny_rcan(seed=2), str(path))
    _assert_same_weights(target, source)


@pytest.mark.parametrize("wrapper", ["params_ema", "params", "state_dict", "model"])
def test_wrapped_and_dataparallel_state_dicts(tmp_path: Path, wrapper: str) -> None:
    source = _tiny_rcan(seed=1).state_dict()
    prefixed = {f"module.{key}": value for key, value in source.items()}
    path = tmp_path / "wrapped.pth"
    torch.save({wrapper: prefixed, "epoch": 300, "note": "trained"}, path)
    _assert_same_weights(load_official(_tiny_rcan(seed=2), path), source)


def test_params_ema_preferred_over_params() -> None:
    ema = _tiny_rcan(seed=1).state_dict()
    raw = _tiny_rcan(seed=3).state_dict()
    _assert_same_weights(load_official(_tiny_rcan(seed=2), {"params": raw, "params_ema": ema}), ema)


def test_in_memory_state_dict() -> None:
    source = _tiny_rcan(seed=1).state_dict()
    _assert_same_weights(load_official(_tiny_rcan(seed=2), source), source)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_safetensors_round_trip(tmp_path: Path, dtype: torch.dtype) -> None:
    source = {key: value.to(dtype).contiguous() for key, value in _tiny_rcan(seed=1).state_dict().items()}
    path = tmp_path / "rcan_x2.safetensors"
    save_file(source, str(path))
    target = load_official(_tiny_rcan(seed=2), path)
    assert all(value.dtype == torch.float32 for value in target.state_dict().values())
    _assert_same_weights(target, source)


def test_x4_weights_for_x2_model_name_keys_and_hint(tmp_path: Path) -> None:
    path = tmp_path / "RCAN_BIX4.pt"
    torch.save(_tiny_rcan(scale=4).state_dict(), path)
    target = _tiny_rcan(scale=2, seed=5)
    before = {key: value.clone() for key, value in target.state_dict().items()}
    with pytest.raises(CheckpointError) as caught:
        load_official(target, path)
    error = caught.value
    # x2 and x4 share the first 4C upsampler conv; x4 has a second stage the x2 model lacks.
    assert (error.missing, error.unexpected, error.mismatched) == ([], ["tail.0.2.weight", "tail.0.2.bias"], [])
    assert "unexpected (in the checkpoint, not in the model) [2]: tail.0.2.weight, tail.0.2.bias" in str(error)
    assert "looks like scale x4 weights for a x2 model: tail.* keys or shapes differ" in str(error)
    # The strict check runs before any copy, so a failed load leaves the model untouched.
    _assert_same_weights(target, before)


def test_x3_weights_for_x2_model_name_shapes_and_hint() -> None:
    with pytest.raises(CheckpointError) as caught:
        load_official(_tiny_rcan(scale=2), _tiny_rcan(scale=3).state_dict())
    error = caught.value
    assert (error.missing, error.unexpected, error.mismatched) == ([], [], ["tail.0.0.weight", "tail.0.0.bias"])
    assert "tail.0.0.weight checkpoint (144, 16, 3, 3) vs model (64, 16, 3, 3)" in str(error)
    assert "looks like scale x3 weights for a x2 model" in str(error)


def test_wrong_scale_rdn_hint() -> None:
    torch.manual_seed(0)
    x3_weights = build_model("rdn", 3, **RDN_TINY).state_dict()
    with pytest.raises(CheckpointError, match=r"scale x3 weights for a x2 model: UPNet\.\* keys or shapes differ"):
        load_official(build_model("rdn", 2, **RDN_TINY), x3_weights)


def test_wrong_arch_names_keys_and_hints(tmp_path: Path) -> None:
    path = tmp_path / "rdn.safetensors"
    torch.manual_seed(0)
    save_file(build_model("rdn", 2, **RDN_TINY).state_dict(), str(path))
    with pytest.raises(CheckpointError) as caught:
        load_official(_tiny_rcan(), path)
    error = caught.value
    message = str(error)
    assert "looks like another arch: RDN weights for a RCAN model" in message
    assert len(error.missing) == 48 and "head.0.weight" in message and "missing" in message
    assert len(error.unexpected) == 36 and "GFF.0.weight" in message
    assert "(38 more)" in message and "(26 more)" in message  # only the first 10 of each kind are listed


def test_same_arch_other_width_hint() -> None:
    wider = build_model("rcan", 2, **{**RCAN_TINY, "n_feats": 32}).state_dict()
    with pytest.raises(CheckpointError, match="different configuration") as caught:
        load_official(_tiny_rcan(), wider)
    assert "head.0.weight checkpoint (32, 3, 3, 3) vs model (16, 3, 3, 3)" in str(caught.value)


def test_missing_key_is_an_error() -> None:
    source = _tiny_rcan(seed=1).state_dict()
    del source["sub_mean.bias"]
    with pytest.raises(CheckpointError, match=r"missing .*\[1\]: sub_mean\.bias") as caught:
        load_official(_tiny_rcan(), source)
    assert caught.value.missing == ["sub_mean.bias"]


def test_extra_key_is_an_error() -> None:
    source = dict(_tiny_rcan(seed=1).state_dict())
    source["body.0.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"unexpected .*\[1\]: body\.0\.extra"):
        load_official(_tiny_rcan(), source)


class _Payload:
    """Stands for any object a malicious or framework-specific pickle may carry."""

    def __init__(self) -> None:
        self.value = 1


class _ShellCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_pickle_with_custom_class_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "custom.pth"
    torch.save({"head.0.weight": torch.zeros(1), "extra": _Payload()}, path)
    with pytest.raises(CheckpointError, match=r"references Python code \(.*_Payload\)"):
        load_official(_tiny_rcan(), path)


def test_pickle_with_os_system_is_refused_and_not_run(tmp_path: Path) -> None:
    sentinel = tmp_path / "was_run"
    path = tmp_path / "evil.pt"
    with path.open("wb") as handle:
        pickle.dump({"weight": _ShellCommand(f"touch {sentinel}")}, handle, protocol=2)
    with pytest.raises(CheckpointError, match=r"references Python code .*only weights-only"):
        load_official(_tiny_rcan(), path)
    assert not sentinel.exists()


def _torch7_header() -> bytes:
    # type tag 4 (torch object), object index 1, version string "V 1", class name.
    return struct.pack("<ii", 4, 1) + struct.pack("<i", 3) + b"V 1" + struct.pack("<i", 13) + b"nn.Sequential"


@pytest.mark.parametrize("name", ["RDN_BIX2.t7", "renamed.pt"])
def test_torch7_file_is_refused_clearly(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(_torch7_header() + bytes(64))
    with pytest.raises(CheckpointError, match=r"Lua Torch7 .*convert"):
        load_official(build_model("rdn", 2, **RDN_TINY), path)


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_official(_tiny_rcan(), tmp_path / "absent.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_official(_tiny_rcan(), garbage)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_official(_tiny_rcan(), broken)
    a_list = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], a_list)
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_official(_tiny_rcan(), a_list)
    with pytest.raises(CheckpointError, match="not tensors"):
        load_official(_tiny_rcan(), {"epoch": 3, "optimizer": {"lr": torch.zeros(1)}})
