"""The attention plug-ins (restore.blocks.create_attention) and RCAN built with them: shapes on odd sizes,
gradients, equality with RCAN's CALayer and with naive fully materialised references, the papers' sub-options,
and the plug-in's keys, recipes, cards and GFLOPs."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.archs import build_model
from restore.blocks import attention_option_names, create_attention, list_attentions
from restore.blocks.channel_attention import CALayer
from restore.blocks.criss_cross import criss_cross_attention
from restore.blocks.global_context import GlobalContext, SimplifiedNonLocal

COMPACT = {"n_resgroups": 2, "n_resblocks": 2, "n_feats": 16, "reduction": 4}


def _randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights everywhere, zero-initialised gates and output convs included, so every path is exercised."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return module


def _close(actual: Tensor, expected: Tensor, tolerance: float = 1e-5) -> None:
    assert actual.shape == expected.shape
    assert (actual - expected).abs().max().item() <= tolerance * max(1.0, expected.abs().max().item())


@pytest.mark.parametrize("name", list_attentions())
def test_every_attention_keeps_odd_shapes_and_passes_gradients(name):
    block = _randomise(create_attention(name, 16))
    x = torch.randn(2, 16, 15, 9, requires_grad=True)
    y = block(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for key, parameter in block.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), key


@pytest.mark.parametrize("name", ["esa", "cbam", "bam", "cc"])
def test_small_maps_work(name):
    """A 3x3 map (an edge tile) passes: ESA's 7x7 pooling shrinks to the map instead of failing."""
    assert create_attention(name, 16)(torch.randn(1, 16, 3, 3)).shape == (1, 16, 3, 3)


def test_se_equals_rcan_calayer_given_the_same_weights():
    reference = _randomise(CALayer(16, 4))
    se = create_attention("se", 16, reduction=4)
    se.load_state_dict(reference.state_dict(), strict=True)  # the same keys: conv_du.0, conv_du.2
    x = torch.randn(2, 16, 7, 5)
    assert torch.equal(se(x), reference(x))


def test_se_suboptions_follow_their_definitions():
    x = torch.randn(2, 16, 6, 7)
    for reduction in (4, 8, 16):
        assert create_attention("se", 16, reduction=reduction).conv_du[0].out_channels == 16 // reduction
    for squeeze, pooled in (("avg", x.mean(dim=(2, 3))), ("max", x.amax(dim=(2, 3))),
                            ("contrast", x.std(dim=(2, 3), unbiased=False) + x.mean(dim=(2, 3)))):
        for excitation, gate in (("sigmoid", torch.sigmoid), ("hardsigmoid", F.hardsigmoid)):
            block = _randomise(create_attention("se", 16, reduction=4, squeeze=squeeze, excitation=excitation))
            reduce, _, expand, _ = block.conv_du
            hidden = torch.relu(pooled @ reduce.weight.flatten(1).T + reduce.bias)
            expected = x * gate(hidden @ expand.weight.flatten(1).T + expand.bias)[:, :, None, None]
            _close(block(x), expected)
    assert create_attention("cca", 16).squeeze == "contrast"
    with pytest.raises(ValueError, match="squeeze"):
        create_attention("se", 16, squeeze="median")
    with pytest.raises(ValueError, match="excitation"):
        create_attention("se", 16, excitation="tanh")


def test_contrast_squeeze_of_a_constant_channel_has_finite_gradients():
    x = torch.ones(1, 16, 5, 5, requires_grad=True)
    create_attention("cca", 16, reduction=4)(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_gc_without_its_bottleneck_is_the_simplified_nonlocal_block():
    snl = _randomise(SimplifiedNonLocal(16))
    gc = GlobalContext(16, bottleneck=False)
    gc.load_state_dict({"mask.weight": snl.mask.weight, "mask.bias": snl.mask.bias,
                        "transform.0.weight": snl.value.weight, "transform.0.bias": snl.value.bias}, strict=True)
    x = torch.randn(2, 16, 9, 11)
    _close(gc(x), snl(x))


def test_gc_fusions_add_or_gate_the_transformed_context():
    x = torch.randn(2, 16, 6, 5)
    for fusion in ("add", "scale"):
        block = _randomise(create_attention("gc", 16, reduction=4, fusion=fusion))
        weights = torch.softmax(block.mask(x).flatten(2), dim=2)  # (B, 1, HW)
        context = (x.flatten(2) * weights).sum(dim=2)[:, :, None, None]
        update = block.transform(context)
        _close(block(x), x + update if fusion == "add" else x * torch.sigmoid(update))
    with pytest.raises(ValueError, match="fusion"):
        create_attention("gc", 16, fusion="concat")


def test_new_gc_snl_nl_cc_da_blocks_start_as_the_identity():
    """The papers zero-initialise the last layer or gamma of these residual blocks."""
    x = torch.randn(1, 16, 6, 7)
    for name in ("gc", "snl", "nl", "cc", "da"):
        assert torch.equal(create_attention(name, 16)(x), x), name


def test_nl_matches_the_naive_key_softmax_reference():
    block = _randomise(create_attention("nl", 16))
    x = torch.randn(2, 16, 7, 9)
    theta, phi, g = (conv(x).flatten(2) for conv in (block.theta, block.phi, block.g))
    weights = torch.softmax(theta.transpose(1, 2) @ phi, dim=2)  # (B, N, N): over the keys
    expected = x + block.W((g @ weights.transpose(1, 2)).reshape(2, -1, 7, 9))
    _close(block(x), expected)
    with torch.no_grad():
        _close(block(x), expected)


def _naive_criss_cross(query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """Full (HW x HW) attention masked to each position's row and column."""
    batch, _, height, width = query.shape
    rows = torch.arange(height).repeat_interleave(width)
    columns = torch.arange(width).repeat(height)
    allowed = (rows[:, None] == rows[None, :]) | (columns[:, None] == columns[None, :])
    logits = query.flatten(2).transpose(1, 2) @ key.flatten(2)
    weights = torch.softmax(logits.masked_fill(~allowed, float("-inf")), dim=2)
    return (value.flatten(2) @ weights.transpose(1, 2)).reshape(batch, -1, height, width)


def test_cc_matches_the_naive_row_and_column_reference_with_its_recurrence():
    query, key, value = torch.randn(2, 4, 5, 7), torch.randn(2, 4, 5, 7), torch.randn(2, 6, 5, 7)
    _close(criss_cross_attention(query, key, value), _naive_criss_cross(query, key, value))

    block = _randomise(create_attention("cc", 16))
    assert block.recurrence == 2
    x = torch.randn(2, 16, 5, 7)
    expected = x
    for _ in range(2):
        expected = expected + block.gamma * _naive_criss_cross(block.query(expected), block.key(expected),
                                                               block.value(expected))
    _close(block(x), expected)


def test_da_matches_its_position_plus_channel_reference():
    block = _randomise(create_attention("da", 16))
    x = torch.randn(2, 16, 5, 6)
    query, key, value = (conv(x).flatten(2) for conv in (block.query, block.key, block.value))
    position = value @ torch.softmax(query.transpose(1, 2) @ key, dim=2).transpose(1, 2)
    flat = x.flatten(2)
    gram = flat @ flat.transpose(1, 2)
    channel = torch.softmax(gram.amax(dim=2, keepdim=True) - gram, dim=2) @ flat
    expected = x + block.gamma_position * position.reshape(x.shape) + block.gamma_channel * channel.reshape(x.shape)
    _close(block(x), expected)


def test_unknown_attention_or_option_is_refused():
    with pytest.raises(ValueError, match="unknown attention 'eca'"):
        create_attention("eca", 16)
    with pytest.raises(TypeError, match="no option"):
        create_attention("pa", 16, reduction=4)
    with pytest.raises(TypeError, match="no option"):
        create_attention("none", 16, reduction=4)
    assert attention_option_names("se") == ("reduction", "squeeze", "excitation")


# --------------------------------------------------------------------------------------------------- plug-in
def test_rcan_default_is_the_official_layout_with_rcan_reduction():
    official_keys = list(build_model("rcan", 2, **COMPACT).state_dict())
    se = build_model("rcan", 2, **COMPACT, attention="se")
    assert list(se.state_dict()) == official_keys
    assert se.body[0].body[0].body[3].conv_du[0].out_channels == 16 // 4


@pytest.mark.parametrize("name", list_attentions())
def test_rcan_puts_the_attention_in_every_rcab(name):
    model = build_model("rcan", 2, **COMPACT, attention=name)
    attentions = [group.body[b].body[3] for group in model.body[:2] for b in range(2)]
    expected = type(create_attention(name, 16, **({"reduction": 4} if "reduction" in attention_option_names(name)
                                                  else {})))
    assert all(type(block) is expected for block in attentions)
    assert model(torch.rand(1, 3, 7, 9) * 255).shape == (1, 3, 14, 18)


def test_attention_options_override_rcan_reduction_and_reach_every_block():
    model = build_model("rcan", 2, **COMPACT, attention="se", attention_options={"squeeze": "max", "reduction": 2})
    block = model.body[1].body[1].body[3]
    assert block.squeeze == "max" and block.conv_du[0].out_channels == 8


def test_group_placement_puts_one_block_after_each_group_conv():
    model = build_model("rcan", 2, **COMPACT, attention="bam", attention_at="group")
    keys = model.state_dict()
    assert any(key.startswith("body.0.attention.") for key in keys)
    assert not any(".body.3.conv_du" in key for key in keys)  # the RCABs carry no attention then
    assert model(torch.rand(1, 3, 8, 8) * 255).shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="attention_at"):
        build_model("rcan", 2, **COMPACT, attention_at="stage")


def test_recipe_with_a_wrong_attention_fails_before_training(tmp_path):
    from restore.training.options import OptionsError, load_options, validate

    recipe = tmp_path / "r.yml"
    recipe.write_text("name: t\narch: rcan\nscale: 2\nnetwork: {n_feats: 16, attention: eca}\n")
    with pytest.raises(OptionsError, match="unknown attention 'eca'"):
        validate(load_options(recipe))
    recipe.write_text("name: t\narch: rcan\nscale: 2\nnetwork: {n_feats: 16, attention: gc, "
                      "attention_options: {fusion: concat}}\n")
    with pytest.raises(OptionsError, match="fusion"):
        validate(load_options(recipe))


def test_a_card_with_an_attention_builds_that_network_and_counts_its_gflops(tmp_path, monkeypatch):
    from restore.zoo import build_entry, describe, find_entry

    config = {**COMPACT, "attention": "cbam", "attention_options": {"kernel_size": 3}}
    (tmp_path / "rcan-cbam_x2.json").write_text(json.dumps({"name": "rcan-cbam", "arch": "rcan", "scale": 2,
                                                            "config": config}))
    monkeypatch.setenv("RESTORE_MODELS_DIR", str(tmp_path))
    entry = find_entry("rcan-cbam", 2)
    model = build_entry(entry)
    assert model.body[0].body[0].body[3].spatial.kernel_size == (3, 3)
    row = describe(entry)
    assert row["params"] == sum(t.numel() for t in model.state_dict().values())
    plain = describe(type(entry)(name="plain", arch="rcan", scale=2, config=COMPACT))
    assert row["gflops"] > plain["gflops"] > 0


def test_gflops_count_the_attention_of_full_resolution_blocks():
    from restore.zoo import count_gflops

    counts = {name: count_gflops("rcan", 2, json.dumps({**COMPACT, "attention": name}), 32)
              for name in ("none", "nl", "da", "cc")}
    # Quadratic attention over 32x32 positions dwarfs the criss-cross block's H + W relations.
    assert counts["nl"] > counts["cc"] > counts["none"] and counts["da"] > counts["cc"]
