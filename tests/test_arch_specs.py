"""Each architecture describes itself once, in its ArchSpec: building, paper defaults, layout detection, and the
rest of restore reading the spec instead of testing an arch's name."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import restore.archs as archs
from restore.archs import build_model, detect, spec, specs
from restore.paths import REPO_ROOT

# Two configurations per arch, neither the paper's, chosen to differ in every layout hyperparameter.
SHAPES = {
    "rcan": [dict(n_resgroups=2, n_resblocks=3, n_feats=16, reduction=4),
             dict(n_resgroups=3, n_resblocks=1, n_feats=24, reduction=8)],
    "rdn": [dict(G0=16, D=2, C=3, G=8), dict(G0=12, D=3, C=2, G=6)],
    "rnan": [dict(n_resgroups=3, n_feats=16), dict(n_resgroups=2, n_feats=8)],
    "san": [dict(n_resgroups=2, n_resblocks=3, n_feats=16, reduction=4),
            dict(n_resgroups=1, n_resblocks=2, n_feats=24, reduction=8)],
}
DETECTABLE = sorted(SHAPES)


def _state_dict(arch: str, scale: int, hyperparameters: dict) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return build_model(arch, scale, **hyperparameters).state_dict()


def test_every_arch_module_registers_a_spec_and_nothing_lists_them_again():
    names = {module.stem for module in (REPO_ROOT / "restore" / "archs").glob("*.py")}
    assert set(archs.list_archs()) == {"bicubic", "rcan", "rdn", "rnan", "san"} <= names
    init = (REPO_ROOT / "restore" / "archs" / "__init__.py").read_text()
    for name in archs.list_archs():
        assert f'"{name}"' not in init and f"'{name}'" not in init


def test_spec_carries_summary_defaults_and_the_facts_other_rooms_read():
    rcan = spec("RCAN")
    assert rcan.name == "rcan" and "Zhang et al., ECCV 2018" in rcan.summary
    assert {"n_resgroups": 10, "n_resblocks": 20, "n_feats": 64, "reduction": 16}.items() <= rcan.defaults.items()
    assert spec("rdn").defaults == {"G0": 64, "D": 16, "C": 8, "G": 64, "kernel_size": 3}
    assert spec("rdn").upsampler_prefixes == ("UPNet.",) and rcan.upsampler_prefixes == ("tail.",)
    assert {s.name: s.basicsr_name for s in specs() if s.basicsr_name} == {
        "rcan": "RestoreRCAN", "rdn": "RestoreRDN", "rnan": "RestoreRNAN", "san": "RestoreSAN"}
    assert archs.published_archs() == {"RCAN": "rcan", "RDN": "rdn", "RNAN": "rnan", "SAN": "san", "bicubic": "bicubic"}
    with pytest.raises(KeyError, match="known: bicubic, rcan"):
        spec("edsr")


def test_builder_defaults_are_the_paper_configuration_and_unknown_names_raise():
    with torch.device("meta"):
        paper = build_model("san", 2)
    assert len(paper.RG) == 20 and len(paper.RG[0].rcab) == 10
    with pytest.raises(TypeError, match="n_resblocks"):
        build_model("rnan", 2, n_resblocks=3)


@pytest.mark.parametrize("arch", DETECTABLE)
@pytest.mark.parametrize("shape", [0, 1])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_detect_reads_scale_and_hyperparameters_of_any_official_shape(arch, shape, scale):
    hyperparameters = SHAPES[arch][shape]
    found = detect(_state_dict(arch, scale, hyperparameters))
    assert found is not None and (found.arch, found.scale) == (arch, scale)
    assert {key: found.hyperparameters[key] for key in hyperparameters} == hyperparameters


@pytest.mark.parametrize("arch", DETECTABLE)
def test_detect_refuses_the_other_archs_layouts(arch):
    for other in DETECTABLE:
        if other != arch:
            assert spec(arch).detect(_state_dict(other, 2, SHAPES[other][0])) is None
    assert spec("bicubic").detect(_state_dict(arch, 2, SHAPES[arch][0])) is None


def test_detect_refuses_a_damaged_layout_and_a_plug_in_variant():
    state = _state_dict("rcan", 2, SHAPES["rcan"][0])
    del state["body.1.body.3.weight"]  # group 1's closing conv
    assert detect(state) is None
    assert detect(_state_dict("rcan", 2, {**SHAPES["rcan"][0], "attention": "cbam"})) is None
    assert detect(_state_dict("rcan", 2, {**SHAPES["rcan"][0], "attention": "se", "attention_at": "group"})) is None


def test_detect_reads_an_rcan_without_attention():
    config = {key: value for key, value in SHAPES["rcan"][0].items() if key != "reduction"}
    found = detect(_state_dict("rcan", 3, {**config, "attention": "none"}))
    assert found is not None and (found.arch, found.scale) == ("rcan", 3)
    assert found.hyperparameters == {**config, "kernel_size": 3, "attention": "none"}


@pytest.mark.parametrize("card", sorted((REPO_ROOT / "models").glob("*_x[0-9].json")), ids=lambda p: p.stem)
def test_detect_recognises_every_shipped_zoo_model(card: Path):
    meta = json.loads(card.read_text())
    found = detect(load_file(str(card.parent / meta["weights"])))
    assert found is not None and (found.arch, found.scale) == (meta["arch"], meta["scale"])
    # What the weights fix: every hyperparameter but a reduction without a channel attention to reduce.
    weightless = {"reduction"} if meta["config"].get("attention") == "none" else set()
    assert {key: found.hyperparameters[key] for key in meta["config"] if key not in weightless} == {
        key: value for key, value in meta["config"].items() if key not in weightless}


def _python_sources():
    for path in sorted((REPO_ROOT / "restore").rglob("*.py")):
        if "archs" not in path.relative_to(REPO_ROOT / "restore").parts[:1]:
            yield path


def test_no_module_outside_archs_tests_an_arch_name():
    learned = [s.name for s in specs() if s.learned]
    # "rcan" or 'RCAN' as a whole string literal (not the possessive in a docstring: RCAN's).
    name_literal = re.compile(r"""["'](%s)["'](?!\w)""" % "|".join(re.escape(n) for n in learned), re.IGNORECASE)
    compares_arch = re.compile(r"""\barch\w*["']?\]?\s*(==|!=)\s*["']|\barch\w*\s+(not\s+)?in\s*[(\[{]\s*["']""")
    offenders = []
    for path in _python_sources():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if name_literal.search(line) or compares_arch.search(line):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert offenders == []


@pytest.fixture
def toy_spec():
    from toy_arch import SPEC

    archs.register(SPEC)
    try:
        yield SPEC
    finally:
        archs.unregister(SPEC.name)


def test_a_toy_arch_added_through_the_public_spec_api_works_everywhere(toy_spec, tmp_path):
    from restore.engine.memory import memory_model_for
    from restore.engine.upscaler import Upscaler
    from restore.zoo import find_entry, list_models

    torch.manual_seed(0)
    model = build_model("toy", 2, n_feats=6)
    assert model(torch.rand(1, 3, 5, 7) * 255).shape == (1, 3, 10, 14)
    found = detect(model.state_dict())
    assert (found.arch, found.scale, found.hyperparameters) == ("toy", 2, {"n_feats": 6})
    assert memory_model_for("toy", 2, {}, 4) == toy_spec.memory_model(2, {"n_feats": 8}, 4)
    assert [e.scale for e in list_models() if e.name == "toy"] == [2, 3, 4]
    assert find_entry("toy", 3).description == toy_spec.summary

    weights = tmp_path / "toy_x2.safetensors"
    save_file(build_model("toy", 2).state_dict(), str(weights))
    upscaled = Upscaler("toy", 2, weights=weights, device="cpu", tile=None).upscale_array(
        np.zeros((4, 5, 3), np.uint8))
    assert upscaled.shape == (8, 10, 3)


def test_toy_arch_is_forgotten_after_unregister(toy_spec):
    archs.unregister("toy")
    assert "toy" not in archs.list_archs()
