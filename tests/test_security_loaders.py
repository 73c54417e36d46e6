"""Crafted checkpoints end with a clear CheckpointError, never a hang, a traceback or a model that renders black."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from restore import CheckpointError, build_model, load_official

RCAN_TINY = dict(n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4)


def _tiny_rcan(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("rcan", 2, **RCAN_TINY)


def _weights() -> dict[str, torch.Tensor]:
    return _tiny_rcan(seed=1).state_dict()


def test_self_containing_checkpoint_is_refused_instead_of_hanging(tmp_path: Path) -> None:
    looped: dict[str, object] = {"epoch": 3}
    looped["params"] = looped
    path = tmp_path / "looped.pt"
    torch.save(looped, path)
    for source in (looped, path):
        with pytest.raises(CheckpointError, match=r"nest more than \d+ deep \(or contain themselves\)"):
            load_official(_tiny_rcan(), source)


def test_deeply_nested_wrappers_are_refused() -> None:
    nested: dict[str, object] = dict(_weights())
    for _ in range(10):
        nested = {"state_dict": nested}
    with pytest.raises(CheckpointError, match="nest more than"):
        load_official(_tiny_rcan(), nested)


def test_two_wrappers_deep_still_loads() -> None:
    weights = _weights()
    model = load_official(_tiny_rcan(), {"model": {"params_ema": weights}, "epoch": 1})
    assert torch.equal(model.state_dict()["head.0.weight"], weights["head.0.weight"])


def test_non_string_keys_are_refused_with_a_message(tmp_path: Path) -> None:
    weights = dict(_weights())
    weights[7] = torch.zeros(1)  # type: ignore[index]
    path = tmp_path / "int_key.pt"
    torch.save(weights, path)
    with pytest.raises(CheckpointError, match=r"keys must be strings, found 7"):
        load_official(_tiny_rcan(), path)


@pytest.mark.parametrize("kind, match", [
    ("sparse", "not dense"), ("meta", "meta tensors"), ("complex", "complex-valued"),
])
def test_sparse_meta_and_complex_tensors_are_refused(kind: str, match: str) -> None:
    weights = dict(_weights())
    key = "head.0.weight"
    if kind == "sparse":
        weights[key] = weights[key].to_sparse()
    elif kind == "meta":
        weights[key] = torch.empty(weights[key].shape, device="meta")
    else:
        weights[key] = weights[key].to(torch.complex64)
    with pytest.raises(CheckpointError, match=rf"{match}.*{key}"):
        load_official(_tiny_rcan(), weights)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused_at_load(tmp_path: Path, bad: float) -> None:
    weights = {key: value.clone().contiguous() for key, value in _weights().items()}
    weights["tail.1.bias"][0] = bad
    path = tmp_path / "diverged.safetensors"
    save_file(weights, str(path))
    model = _tiny_rcan(seed=5)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"NaN or infinite weights in tail\.1\.bias"):
        load_official(model, path)
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())


class _RunsCode:
    def __reduce__(self):
        return (print, ("ran",))


def test_code_pickle_message_refuses_and_explains_conversion_without_torch_advice(tmp_path: Path) -> None:
    path = tmp_path / "code.pt"
    with path.open("wb") as handle:
        pickle.dump({"weight": _RunsCode()}, handle, protocol=2)
    with pytest.raises(CheckpointError) as caught:
        load_official(_tiny_rcan(), path)
    message = str(caught.value)
    assert "will not be loaded" in message and "torch.save(model.state_dict()" in message
    assert "weights_only" not in message and "Re-running" not in message


def test_pickle_refused_for_an_operand_keeps_only_the_specific_reason(tmp_path: Path) -> None:
    path = tmp_path / "odd.pt"
    # A protocol-0 INST opcode: weights-only unpickling refuses it without naming a GLOBAL.
    path.write_bytes(b"(i__main__\nThing\n(dp0\nb.")
    with pytest.raises(CheckpointError) as caught:
        load_official(_tiny_rcan(), path)
    assert "weights_only" not in str(caught.value)
