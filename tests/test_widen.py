"""Widening a trained network (train.init_widen): the wide one computes the narrow one's output at step 0, every
new weight trains, and a network whose channels cannot be embedded (concatenations) is refused."""
from __future__ import annotations

import pytest
import torch
import yaml

from restore.archs import build_model
from restore.errors import RestoreError
from restore.training.options import OptionsError, load_options
from restore.training.trainer import Trainer
from restore.training.widen import widen_from

NARROW = {"n_resgroups": 1, "n_resblocks": 2, "n_feats": 8, "reduction": 4}
WIDE = {**NARROW, "n_feats": 12}


def _trained_like(model: torch.nn.Module) -> torch.nn.Module:
    """Weights away from their initialisation, as a trained network's are."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return model


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_wide_network_starts_with_the_narrow_ones_output_and_all_of_it_trains(scale):
    narrow = _trained_like(build_model("rcan", scale, **NARROW)).eval()
    wide = build_model("rcan", scale, **WIDE)
    widen_from(wide, narrow.state_dict(), lambda: build_model("rcan", scale, **NARROW), log=lambda _: None)
    image = torch.rand(1, 3, 13, 11) * 255  # odd sizes
    with torch.no_grad():
        assert torch.allclose(wide.eval()(image), narrow(image), atol=1e-3)
    narrow_head, wide_head = narrow.state_dict()["head.0.weight"], wide.state_dict()["head.0.weight"]
    assert torch.equal(wide_head[:8, :], narrow_head)

    wide.train()
    (wide(image) - image.repeat_interleave(scale, 2).repeat_interleave(scale, 3)).abs().mean().backward()
    cross = wide.body[0].body[0].body[0].weight  # the first RCAB conv: old outputs from new inputs start at zero
    assert torch.count_nonzero(cross.detach()[:8, 8:]) == 0
    assert torch.count_nonzero(cross.grad[:8, 8:]) > 0


def test_a_network_that_concatenates_its_features_is_refused():
    narrow = {"G0": 8, "D": 2, "C": 2, "G": 4}
    rdn = build_model("rdn", 2, **{**narrow, "G0": 12, "G": 6})
    with pytest.raises(RestoreError, match="cannot widen this network by embedding"):
        widen_from(rdn, _trained_like(build_model("rdn", 2, **narrow)).state_dict(),
                   lambda: build_model("rdn", 2, **narrow), log=lambda _: None)


def test_narrow_weights_of_another_layout_are_refused():
    deeper = build_model("rcan", 2, **{**NARROW, "n_resblocks": 3}).state_dict()
    with pytest.raises(RestoreError, match="do not have this network's layout"):
        widen_from(build_model("rcan", 2, **WIDE), deeper, lambda: build_model("rcan", 2, **NARROW))


def test_a_recipe_widens_its_init_from_and_needs_one(tmp_path, training_crops):
    from safetensors.torch import save_file

    narrow = _trained_like(build_model("rcan", 2, **NARROW)).eval()
    save_file({k: v.contiguous() for k, v in narrow.state_dict().items()}, str(tmp_path / "narrow.safetensors"))
    raw = {"name": "wide", "arch": "rcan", "scale": 2, "network": WIDE,
           "data": {"train": [str(training_crops)], "patch_size": 16, "batch_size": 2, "val": "Set5"},
           "train": {"iterations": 2, "lr": 1e-4, "init_from": str(tmp_path / "narrow.safetensors"),
                     "init_widen": True},
           "runtime": {"threads": 1}, "checkpoint": {"dir": str(tmp_path / "run")}, "validation_every": 0}
    (tmp_path / "wide.yml").write_text(yaml.safe_dump(raw))
    messages = []
    trainer = Trainer(load_options(tmp_path / "wide.yml"), log=messages.append)
    assert any("same output at step 0" in message for message in messages)
    image = torch.rand(1, 3, 10, 10) * 255
    with torch.no_grad():
        assert torch.allclose(trainer.model.eval()(image), narrow(image), atol=1e-3)
    trainer.model.train()
    trainer.train()

    del raw["train"]["init_from"]
    (tmp_path / "orphan.yml").write_text(yaml.safe_dump(raw))
    with pytest.raises(OptionsError, match="init_widen needs train.init_from"):
        Trainer(load_options(tmp_path / "orphan.yml"), log=lambda _: None)
