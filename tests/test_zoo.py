"""The model zoo: listing, parameter counts against the official manifests, cards with pinned weights."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from restore.cli import main
from restore.errors import WeightsError
from restore.zoo import find_entry, list_models, load_model, sha256_file

OFFICIAL = ("rcan", "rdn", "rnan", "san")


def test_zoo_json_lists_official_archs_with_manifest_param_counts(capsys, conformance_dir):
    assert main(["zoo", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_key = {(r["name"], r["scale"]): r for r in rows}
    for arch in OFFICIAL:
        for scale in (2, 3, 4):
            manifest = json.loads((conformance_dir / "manifests" / f"{arch}_x{scale}.json").read_text())
            row = by_key[(arch, scale)]
            assert row["params"] == manifest["n_params"], (arch, scale)
            assert row["arch"] == arch and row["weights"] is None and row["gflops"] > 0
            assert set(row) >= {"name", "arch", "scale", "params", "gflops", "weights", "card"}
    assert by_key[("bicubic", 4)]["params"] == 0


def test_zoo_table_is_readable(capsys):
    assert main(["zoo", "--scale", "4"]) == 0
    out = capsys.readouterr().out
    assert "rcan" in out and "15,592,379" in out and "x2" not in out


def test_zoo_table_keeps_long_names_apart_from_the_task_column(capsys):
    assert main(["zoo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    task_column = lines[0].index("task")
    rows = [line for line in lines[2:] if "super-resolution" in line or "style" in line]
    assert rows and all(line[task_column:].startswith(("super-resolution", "style")) for line in rows)
    assert all(line[:task_column].rstrip() and line[task_column - 1] == " " for line in rows)


def test_official_arch_without_weights_says_what_to_do():
    with pytest.raises(WeightsError, match="pass the authors' checkpoint"):
        load_model("rcan", 4)


def test_unknown_model_and_scale_are_named():
    with pytest.raises(WeightsError, match="unknown model 'nope'"):
        find_entry("nope", 4)
    with pytest.raises(WeightsError, match="no x5 entry"):
        find_entry("rcan", 5)


def test_bicubic_entry_needs_no_weights():
    model = load_model("bicubic", 2)
    out = model(torch.full((1, 3, 5, 7), 100.0))
    assert out.shape == (1, 3, 10, 14)
    assert torch.all(out == 100)


def _write_card(root, name, arch, scale, config, state_dict, sha=None):
    weights = root / f"{name}_x{scale}.safetensors"
    save_file({k: v.half().contiguous() for k, v in state_dict.items()}, str(weights))
    card = {
        "name": name, "arch": arch, "scale": scale, "config": config, "weights": weights.name,
        "sha256": sha or sha256_file(weights), "summary": "test card", "metrics": {"Set5": {"psnr": 30.0}},
    }
    (root / f"{name}_x{scale}.json").write_text(json.dumps(card))
    return weights


def test_card_weights_load_fp16_and_sha256_is_enforced(tmp_path, monkeypatch):
    from restore.archs import build_model

    config = {"n_resgroups": 1, "n_resblocks": 1, "n_feats": 8, "reduction": 4}
    reference = build_model("rcan", 2, **config)
    _write_card(tmp_path, "tiny-rcan", "rcan", 2, config, reference.state_dict())
    monkeypatch.setenv("RESTORE_MODELS_DIR", str(tmp_path))
    assert any(e.name == "tiny-rcan" for e in list_models())
    model = load_model("tiny-rcan", 2)
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value.half().float())

    _write_card(tmp_path, "bad-rcan", "rcan", 2, config, reference.state_dict(), sha="0" * 64)
    with pytest.raises(WeightsError, match="does not match the sha256"):
        load_model("bad-rcan", 2)
