"""The lent-GPU campaign: the pack, the dry run's files within the device tool's limits, shards, export."""
from __future__ import annotations

import json

import pytest
import torch
import yaml
from PIL import Image

from restore.archs import build_model
from restore.cli import main
from restore.errors import RestoreError, WeightsError
from restore.paths import REPO_ROOT
from restore.training.campaign import MAX_FILE_BYTES, MAX_FILES, Campaign, CampaignError, load_plan
from restore.training.gpu_pack import build_pack
from restore.training.shards import load_shards, save_shards

TINY_NET = {"n_resgroups": 1, "n_resblocks": 1, "n_feats": 8, "reduction": 4}


@pytest.fixture()
def pack(tmp_path_factory, datasets_dir):
    """A pack built from four 250-pixel crops of training images (a data root with Set5 beside them)."""
    root = tmp_path_factory.mktemp("root")
    (root / "Set5").symlink_to(datasets_dir / "Set5")
    crops = root / "train" / "mini"
    crops.mkdir(parents=True)
    for i, source in enumerate(sorted((datasets_dir / "train" / "BSD200").iterdir())[:4]):
        Image.open(source).convert("RGB").crop((0, 0, 250, 250)).save(crops / f"c{i}.png")
    out = tmp_path_factory.mktemp("pack")
    manifest = build_pack(root, out, sources=("train/mini",), budget_mib=2.0, log=lambda _: None)
    return out, manifest


def _tiny_plan(tmp_path, pack_dir, **dry) -> object:
    """The shipped plan with its dry run made tinier: a tiny net from scratch, x4 from the x2 stage."""
    raw = yaml.safe_load((REPO_ROOT / "options" / "gpu_campaign.yml").read_text())
    raw["data_root"] = str(pack_dir / "data")
    raw["stages"][0]["init"] = None
    raw["stages"][1]["init"] = "previous"
    raw["dry_run"] = {"minutes": 0.2, "publish_every_seconds": 3, "slice_seconds": 1, "log_every": 5,
                      "set": {"network": TINY_NET, "data.batch_size": 2, "data.patch_size": 12,
                              "runtime.threads": 1}, **dry}
    path = tmp_path / "plan.yml"
    path.write_text(yaml.safe_dump(raw))
    return load_plan(path, dry_run=True)


def test_pack_holds_training_tiles_and_set5_only(pack):
    out, manifest = pack
    tiles = sorted((out / "data" / "train" / "tiles").iterdir())
    assert len(tiles) == manifest["tiles"] == 3  # the flattest of four dropped
    assert all(Image.open(t).size == (240, 240) for t in tiles)
    assert sorted(p.name for p in (out / "data" / "Set5" / "HR").iterdir())[0] == "baby.png"
    assert (out / "data" / "Set5" / "LR_bicubic" / "X4" / "babyx4.png").is_file()
    assert all(entry["source"].startswith("train/") for entry in manifest["files"])


def test_pack_refuses_benchmark_folders_and_oversized_budgets(tmp_path, datasets_dir):
    with pytest.raises(RestoreError, match="train/ folders only"):
        build_pack(datasets_dir, tmp_path / "p", sources=("Set14/HR",), log=lambda _: None)
    with pytest.raises(RestoreError, match="budget"):
        build_pack(datasets_dir, tmp_path / "p", budget_mib=41, log=lambda _: None)


def test_dry_run_writes_loadable_weights_and_cards_within_the_device_limits(tmp_path, pack, capsys):
    from scripts.gpu_campaign import main as campaign_main

    plan = _tiny_plan(tmp_path, pack[0])
    out = tmp_path / "out"
    assert campaign_main(["--plan", str(plan.source), "--dry-run", "--out", str(out)]) == 0
    iterations = [int(line.split(": ")[1].split()[0]) for line in capsys.readouterr().out.splitlines()
                  if "iterations in" in line]

    names = sorted(p.name for p in out.iterdir())
    assert names == ["campaign.log", "rcan-compact_x2.json", "rcan-compact_x2.safetensors",
                     "rcan-compact_x4.json", "rcan-compact_x4.safetensors"]
    assert len(names) <= MAX_FILES and all((out / n).stat().st_size < MAX_FILE_BYTES for n in names)
    for done, scale in zip(iterations, (2, 4), strict=True):
        card = json.loads((out / f"rcan-compact_x{scale}.json").read_text())
        assert card["training"]["iterations"] == done > 0
        assert card["training"]["campaign"]["dry_run"] and card["training"]["validations"]
        model = build_model(card["arch"], card["scale"], **card["config"])
        model.load_state_dict(load_shards(out / f"rcan-compact_x{scale}.json"), strict=True)
    x4 = json.loads((out / "rcan-compact_x4.json").read_text())["training"]
    assert x4["started_from"]["weights"].startswith("rcan-compact_x2")  # the x4 stage began from the x2 body
    assert "saved rcan-compact_x4" in (out / "campaign.log").read_text()


def test_the_shipped_plans_fit_the_device_file_limit(tmp_path, pack):
    """scripts/gpu_campaign.py --check validates a plan and counts its files; a missing pack is named."""
    from scripts.gpu_campaign import main as campaign_main

    for plan, files in (("options/gpu_campaign.yml", 5), ("options/gpu_campaign_rcan.yml", 7)):
        raw = yaml.safe_load((REPO_ROOT / plan).read_text())
        raw["data_root"] = str(pack[0] / "data")
        path = tmp_path / "plan.yml"
        path.write_text(yaml.safe_dump(raw))
        assert Campaign(load_plan(path), tmp_path / "o", tmp_path / "w").check() == files
    assert campaign_main(["--plan", str(path), "--check", "--out", str(tmp_path / "o")]) == 0
    raw["data_root"] = str(tmp_path / "nowhere")
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(CampaignError, match="pack_gpu_cache.py"):
        Campaign(load_plan(path), tmp_path / "o", tmp_path / "w").check()


def test_a_plan_over_eight_files_is_refused_before_training(tmp_path, pack):
    raw = yaml.safe_load((REPO_ROOT / "options" / "gpu_campaign_rcan.yml").read_text())
    raw["data_root"] = str(pack[0] / "data")
    raw["stages"].append({**raw["stages"][1], "name": "rcan-paper-again"})
    path = tmp_path / "plan.yml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(CampaignError, match="10 files"):
        Campaign(load_plan(path), tmp_path / "o", tmp_path / "w").check()


def test_shards_reassemble_exactly_and_refuse_a_changed_file(tmp_path):
    state = build_model("rcan", 2, **TINY_NET).state_dict()
    shards = save_shards(state, tmp_path, "tiny_x2", max_bytes=8192)
    assert len(shards) >= 2 and all(s["bytes"] <= 8192 for s in shards)
    card = tmp_path / "tiny_x2.json"
    card.write_text(json.dumps({"shards": shards}))
    loaded = load_shards(card)
    assert sorted(loaded) == sorted(state)
    assert all(torch.equal(loaded[k], state[k].half()) for k in state)
    (tmp_path / shards[1]["file"]).write_bytes((tmp_path / shards[0]["file"]).read_bytes())
    with pytest.raises(WeightsError, match="sha256"):
        load_shards(card)


def test_zoo_export_takes_a_sharded_campaign_card(tmp_path, pack, monkeypatch, capsys):
    """The returned files go through `restore zoo export` like any run: measured, float16, lineage kept."""
    monkeypatch.setenv("RESTORE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setattr("restore.training.export.CURVES_DIR", tmp_path / "curves")
    plan = _tiny_plan(tmp_path, pack[0], shard_mib=0.006, minutes=0.05)
    plan.stages = plan.stages[:1]
    out = tmp_path / "out"
    Campaign(plan, out, tmp_path / "work", log=lambda _: None).run()
    shards = sorted(out.glob("rcan-compact_x2-*.safetensors"))
    assert len(shards) >= 2

    assert main(["zoo", "export", str(shards[1]), "--name", "tiny-gpu", "--datasets", "Set5"]) == 0
    card = json.loads((tmp_path / "models" / "tiny-gpu_x2.json").read_text())
    returned = json.loads((out / "rcan-compact_x2.json").read_text())
    assert card["training"]["iterations"] == returned["training"]["iterations"]
    assert card["training"]["data"].startswith("cache/gpu pack") and card["metrics"]["Set5"]["psnr"] > 0
    assert card["training"]["recipe"] == "options/rcan-compact_x2_warm.yml"
    assert "started_from" not in card["training"]  # the stage ran from scratch, whatever the recipe says
    from safetensors.torch import load_file

    exported = load_file(str(tmp_path / "models" / "tiny-gpu_x2.safetensors"))
    assert all(torch.equal(exported[k], v) for k, v in load_shards(out / "rcan-compact_x2.json").items())
