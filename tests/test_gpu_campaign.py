"""The lent-GPU campaign: the packs, the dry runs' files within the device tool's limits, shards, export (SR and
the SANet stage)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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


# ------------------------------------------------------------------------------------------- the SANet stage
STYLE_DATA = {"data.content": ["photos"], "data.style": ["paintings"], "data.resize_short": 32,
              "data.holdout_every": 3}


def _smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """A photo-like image: smooth colour gradients with a little grain (what JPEG keeps within a few levels)."""
    rng = np.random.default_rng(seed)
    low = Image.fromarray(rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    return np.clip(np.asarray(low, dtype=np.float32) + rng.normal(0, 2, (height, width, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def style_pack(tmp_path_factory):
    """A style pack of a tiny data root (4 photos, 3 paintings; every 3rd held out) with one held-out pair."""
    from restore.style.gpu_pack import build_style_pack
    from restore.style.train import StyleDataOptions
    from restore.weights.backbones import ensure_backbone

    try:
        ensure_backbone("vgg16")
    except WeightsError as exc:
        pytest.skip(str(exc))
    root = tmp_path_factory.mktemp("style_root")
    for folder, seed, count in (("photos", 20, 4), ("paintings", 30, 3)):
        (root / folder).mkdir()
        for index in range(count):
            Image.fromarray(_smooth_image(40, 48, seed + index)).save(root / folder / f"{index}.png")
    data = StyleDataOptions(content=["photos"], style=["paintings"], resize_short=32, holdout_every=3)
    out = tmp_path_factory.mktemp("style_pack")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("restore.style.data.cache_dir", lambda: root / "cache")  # decoded banks stay in the test
        manifest = build_style_pack(root, data, out, budget_mib=20, validation_pairs=1, validation_size=32,
                                    log=lambda _: None)
    return root, data, out, manifest


def test_style_pack_holds_the_encoder_the_calibration_the_training_split_and_held_out_pairs(
        tmp_path, style_pack, monkeypatch):
    from safetensors.torch import load_file

    from restore.style.build import build_vgg16_encoder
    from restore.style.data import load_bank
    from restore.style.evaluate import load_square
    from restore.style.gpu_pack import load_style_pack
    from restore.style.train import StyleOptions, StyleTrainer, StyleTrainOptions

    root, data, out, manifest = style_pack
    assert manifest["split"] == {"content_train": 2, "style_train": 2, "content_held_out": ["photos/0.png",
                                 "photos/3.png"], "style_held_out": ["paintings/0.png"]}
    # The encoder: the pinned VGG-16 to conv5_1, rounded to float16.
    packed = load_file(str(out / "vgg16_relu5_1.safetensors"))
    reference = build_vgg16_encoder().state_dict()
    assert sorted(packed) == sorted(reference) and all(packed[k].dtype == torch.float16 for k in packed)
    assert all(torch.equal(packed[k], reference[k].half()) for k in packed)
    # The loss network's calibration is the one a CPU run of the same data computes.
    monkeypatch.setattr("restore.style.data.cache_dir", lambda: root / "cache")
    cpu_run = StyleTrainer(StyleOptions(name="cpu", data=data, train=StyleTrainOptions(normalised_loss_features=True),
                                        runs_dir=str(tmp_path / "runs")), root, log=lambda _: None)
    ready = load_style_pack(out)
    for packed_mean, calibrated in zip(ready.loss_channel_means, cpu_run.loss_channel_means, strict=True):
        torch.testing.assert_close(packed_mean, calibrated, rtol=0, atol=0)
    # Training images: the held-out ones never, the others as the CPU run decodes them (within JPEG's error).
    sources = sorted(entry["source"] for entry in manifest["content"] + manifest["style"])
    assert sources == ["paintings/1.png", "paintings/2.png", "photos/1.png", "photos/2.png"]
    originals = load_bank(root, ["photos/1.png", "photos/2.png"], 32, log=lambda _: None)
    by_source = {entry["source"]: i for i, entry in enumerate(manifest["content"])}
    for item, source in enumerate(["photos/1.png", "photos/2.png"]):
        decoded = ready.contents.image(by_source[source]).astype(np.float32)
        assert decoded.shape == originals.image(item).shape
        assert np.abs(decoded - originals.image(item)).mean() < 3.0  # JPEG q90 (real photos: 2.3)
    # Held-out pairs: exactly the evaluation's squares (stored losslessly).
    pair = manifest["validation"]["pairs"][0]
    assert (pair["content"], pair["style"]) == ("photos/0.png", "paintings/0.png")
    for name, file in zip((pair["content"], pair["style"]), pair["files"], strict=True):
        np.testing.assert_array_equal(load_square(out / file, 32), load_square(root / name, 32))


def _style_plan(tmp_path, pack_dir, **stage_set) -> Path:
    """The shipped SANet plan on the tiny pack, its dry run made tinier (and validating)."""
    raw = yaml.safe_load((REPO_ROOT / "options" / "gpu_campaign_sanet.yml").read_text())
    raw["data_root"] = str(pack_dir)
    raw["stages"][0]["set"] |= stage_set
    raw["dry_run"] = {"minutes": 0.15, "publish_every_seconds": 3, "log_every": 1, "validation": "held-out",
                      "set": {"data.crop": 32, "data.batch_size": 1, "threads": 1}}
    path = tmp_path / "sanet_plan.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_style_dry_run_returns_loadable_weights_and_a_card_that_exports(tmp_path, style_pack, capsys):
    from scripts.gpu_campaign import main as campaign_main

    from restore.style.models import load_style_model

    root, _, pack_dir, _ = style_pack
    out = tmp_path / "out"
    plan = _style_plan(tmp_path, pack_dir, **STYLE_DATA)
    assert campaign_main(["--plan", str(plan), "--dry-run", "--out", str(out)]) == 0
    done = [int(line.split(": ")[1].split()[0]) for line in capsys.readouterr().out.splitlines()
            if "iterations in" in line]

    # The real plan's files: its stage's name, whatever the settings.
    names = sorted(p.name for p in out.iterdir())
    assert names == ["campaign.log", "sanet-vgg16.json", "sanet-vgg16.md", "sanet-vgg16.safetensors"]
    assert len(names) <= MAX_FILES and all((out / n).stat().st_size < MAX_FILE_BYTES for n in names)
    card = json.loads((out / "sanet-vgg16.json").read_text())
    assert card["iterations"] == done[0] > 0 and card["name"] == "sanet-vgg16"
    assert card["campaign"]["dry_run"] and card["campaign"]["amp"] == "bf16"
    assert card["started_from"]["model"] == "models/sanet-vgg16.safetensors"  # the committed model, as planned
    assert card["held_out"] == {"content": ["photos/0.png", "photos/3.png"], "style": ["paintings/0.png"]}
    validations = card["validations"]
    iterations = [validation["iteration"] for validation in validations]  # one per save, the last at the end
    assert len(iterations) >= 2 and iterations == sorted(iterations) and iterations[-1] == card["iterations"]
    assert all(v["pairs"] == 1 and v["size"] == 32 and v["reconstruction_psnr"] > 0 for v in validations)
    assert load_style_model(out / "sanet-vgg16.safetensors").decoder is not None  # sha256 checked against the card

    # The style export path: measured on the recipe's held-out pairs here, the campaign's record kept.
    models = tmp_path / "models"
    overrides = [f"--set={key}={json.dumps(value)}" for key, value in STYLE_DATA.items()]
    recipe = str(REPO_ROOT / "options" / "sanet-vgg16_colour.yml")
    common = ["train-style", recipe, "--data-root", str(root), "--pairs", "1", *overrides]
    assert main([*common, "--export", str(models / "sanet.safetensors"),
                 "--from", str(out / "sanet-vgg16.safetensors")]) == 0
    published = json.loads((models / "sanet.json").read_text())
    assert published["held_out_losses"]["pairs"] == 1 and published["campaign"] == card["campaign"]
    assert published["iterations"] == card["iterations"] and published["validations"] == validations
    assert load_style_model(models / "sanet.safetensors").decoder is not None
    # A recipe holding out other images would measure the returned model on images it trained on.
    assert main([*common, "--set=data.holdout_every=2", "--export", str(models / "other.safetensors"),
                 "--from", str(out / "sanet-vgg16.safetensors")]) == 2
    assert "held out other images" in capsys.readouterr().err and not (models / "other.safetensors").exists()


def test_style_plan_checks_its_pack_and_fits_the_device_limits(tmp_path, style_pack):
    from restore.style.gpu_pack import DEFAULT_BUDGET_MIB, StylePackError, default_budget_mib
    from restore.training.campaign import MAX_TREE_BYTES, open_campaign, travelling_bytes

    _, _, pack_dir, _ = style_pack
    plan = _style_plan(tmp_path, pack_dir, **STYLE_DATA)
    campaign = open_campaign(load_plan(plan, dry_run=True), tmp_path / "o", tmp_path / "w")
    assert campaign.check() == 4  # the log, and the stage's weights, card and readable card
    with pytest.raises(CampaignError, match="crop 256 exceeds"):  # the real plan's crops, the tiny pack's images
        open_campaign(load_plan(plan), tmp_path / "o", tmp_path / "w").check()
    # The shipped plan reads the whole style split: a pack made for other data is named, not trained on.
    with pytest.raises(StylePackError, match="rebuild it"):
        open_campaign(load_plan(_style_plan(tmp_path, pack_dir)), tmp_path / "o", tmp_path / "w").check()
    with pytest.raises(StylePackError, match="pack_gpu_style_cache.py"):
        open_campaign(load_plan(_style_plan(tmp_path, tmp_path / "nowhere")), tmp_path / "o", tmp_path / "w").check()
    raw = yaml.safe_load(_style_plan(tmp_path, pack_dir, **STYLE_DATA).read_text())
    raw["stages"][0]["init"] = "previous"
    (tmp_path / "previous.yml").write_text(yaml.safe_dump(raw))
    with pytest.raises(CampaignError, match="not from a previous stage"):
        open_campaign(load_plan(tmp_path / "previous.yml", dry_run=True), tmp_path / "o", tmp_path / "w").check()
    # One plan trains one task.
    raw = yaml.safe_load(_style_plan(tmp_path, pack_dir).read_text())
    raw["stages"].append({"name": "rcan-compact", "recipe": "options/rcan-compact_x2_warm.yml"})
    (tmp_path / "mixed.yml").write_text(yaml.safe_dump(raw))
    with pytest.raises(CampaignError, match="one task"):
        open_campaign(load_plan(tmp_path / "mixed.yml"), tmp_path / "o", tmp_path / "w")
    # The checkout with a pack of the default budget is a tree the device tool takes, and the zoo has not grown so
    # far that the pack shrank below 20 MiB (the encoder and a useful share of the images).
    budget = default_budget_mib()
    assert 20 <= budget <= DEFAULT_BUDGET_MIB
    assert travelling_bytes([]) + budget * 2**20 <= MAX_TREE_BYTES
