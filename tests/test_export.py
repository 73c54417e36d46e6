"""Exporting a training run into the zoo: fp16 weights, a card whose numbers `restore bench` reproduces."""
from __future__ import annotations

import json

import pytest
import torch
import yaml
from PIL import Image

from restore.cli import main
from restore.errors import RestoreError
from restore.training.export import export_checkpoint
from restore.training.options import load_options
from restore.training.trainer import Trainer


@pytest.fixture()
def trained_run(tmp_path, datasets_dir, monkeypatch):
    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RESTORE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setattr("restore.training.export.CURVES_DIR", tmp_path / "curves")  # exports from the CLI
    crops = tmp_path / "crops"
    crops.mkdir()
    for i, source in enumerate(sorted((datasets_dir / "train" / "BSD200").iterdir())[:4]):
        Image.open(source).convert("RGB").crop((0, 0, 96, 96)).save(crops / f"c{i}.png")
    recipe = tmp_path / "tiny.yml"
    recipe.write_text(yaml.safe_dump({
        "name": "tiny", "arch": "rcan", "scale": 2,
        "network": {"n_resgroups": 1, "n_resblocks": 1, "n_feats": 8, "reduction": 4},
        "data": {"train": [str(crops)], "patch_size": 16, "batch_size": 2, "val": "Set5"},
        "train": {"iterations": 6, "lr": 1e-3, "ema": 0.9},
        "checkpoint": {"dir": str(tmp_path / "run")}, "validation_every": 3, "log_every": 3,
    }))
    trainer = Trainer(load_options(recipe), log=lambda _: None)
    trainer.train()
    return trainer.latest_checkpoint(), tmp_path


def test_export_writes_fp16_weights_and_a_card_that_bench_reproduces(trained_run, capsys):
    checkpoint, root = trained_run
    card_path = export_checkpoint(checkpoint, "tiny-rcan", 2, datasets=("Set5",), curves_dir=root / "curves",
                                  timing_note="timed beside a training", log=lambda _: None)
    card = json.loads(card_path.read_text())
    assert "timed beside a training" in (root / "models" / "tiny-rcan_x2.md").read_text()
    assert card["arch"] == "rcan" and card["dtype"] == "float16" and card["training"]["iterations"] == 6
    cpu_seconds = torch.load(checkpoint, weights_only=True)["cpu_seconds"]
    assert cpu_seconds > 0 and card["training"]["core_hours"] == round(cpu_seconds / 3600, 3)
    assert len(card["training"]["validations"]) == 2
    assert (root / "curves" / "tiny-rcan_x2.png").read_bytes()[:4] == b"\x89PNG"
    assert (root / "models" / "tiny-rcan_x2.md").exists()

    assert main(["bench", "--model", "tiny-rcan", "--scale", "2", "--dataset", "Set5", "--json",
                 str(root / "bench.json")]) == 0
    measured = json.loads((root / "bench.json").read_text())["results"][0]
    assert measured["psnr"] == pytest.approx(card["metrics"]["Set5"]["psnr"], abs=1e-4)
    assert measured["ssim"] == pytest.approx(card["metrics"]["Set5"]["ssim"], abs=1e-5)


@pytest.mark.parametrize("benchmark, refusal", [(True, "does not beat the committed"),
                                                  (False, "cannot show it is better")])
def test_a_refused_export_leaves_the_committed_model(trained_run, benchmark, refusal):
    """Neither an export that is not 0.02 dB better nor an unmeasured one replaces a measured model."""
    checkpoint, root = trained_run
    card_path = export_checkpoint(checkpoint, "tiny-rcan", 2, datasets=("Set5",), curves_dir=root / "curves",
                                  log=lambda _: None)
    curve = root / "curves" / "tiny-rcan_x2.png"
    curve.write_bytes(b"the committed model's curve")  # the refused run's own curve would differ
    kept = (card_path, root / "models" / "tiny-rcan_x2.safetensors", curve)
    before = [path.read_bytes() for path in kept]
    with pytest.raises(RestoreError, match=refusal):
        export_checkpoint(checkpoint, "tiny-rcan", 2, benchmark=benchmark, datasets=("Set5",),
                          curves_dir=root / "curves", log=lambda _: None)
    assert [path.read_bytes() for path in kept] == before


def test_a_warm_restart_card_counts_the_hours_of_the_model_it_started_from(trained_run):
    checkpoint, root = trained_run
    first = json.loads(export_checkpoint(checkpoint, "tiny-rcan", 2, benchmark=False, curves_dir=root / "curves",
                                         log=lambda _: None).read_text())
    assert "started_from" not in first["training"]
    first_weights = root / "models" / "tiny-rcan_x2.safetensors"
    first_sha = first["sha256"]

    recipe = yaml.safe_load((root / "tiny.yml").read_text())
    recipe["train"] |= {"iterations": 2, "init_from": str(first_weights)}
    recipe["checkpoint"]["dir"] = str(root / "warm")
    (root / "warm.yml").write_text(yaml.safe_dump(recipe))
    trainer = Trainer(load_options(root / "warm.yml"), log=lambda _: None)
    trainer.train()
    card = json.loads(export_checkpoint(trainer.latest_checkpoint(), "tiny-rcan", 2, benchmark=False,
                                        curves_dir=root / "curves", log=lambda _: None).read_text())
    parent = card["training"]["started_from"]
    assert parent["sha256"] == first_sha != card["sha256"]  # the replaced file, read before it was overwritten
    assert parent["lineage_core_hours"] == first["training"]["core_hours"]
    assert card["training"]["lineage_core_hours"] == pytest.approx(
        first["training"]["core_hours"] + card["training"]["core_hours"], abs=1e-3)
    assert "started from" in (root / "models" / "tiny-rcan_x2.md").read_text()


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "checkpoint-before-the-record"])
def test_a_warm_restart_exported_mid_cycle_and_again_at_its_end_has_one_parent(trained_run, recorded):
    """The mid-cycle export replaces the file the run started from; the final export's parent is still the model
    the run started from, and its hours are counted once. Checkpoints written before the trainer kept that record
    fall back to the recipe, and recognise the file as an earlier export of the same recipe."""
    checkpoint, root = trained_run
    first = json.loads(export_checkpoint(checkpoint, "tiny-rcan", 2, benchmark=False, curves_dir=None,
                                         log=lambda _: None).read_text())
    recipe = yaml.safe_load((root / "tiny.yml").read_text())
    recipe["train"] |= {"iterations": 4, "init_from": str(root / "models" / "tiny-rcan_x2.safetensors")}
    recipe["checkpoint"] |= {"dir": str(root / "warm"), "keep": 4}
    (root / "warm.yml").write_text(yaml.safe_dump(recipe))

    def train_and_export(iterations: int) -> dict:
        trainer = Trainer(load_options(root / "warm.yml"), log=lambda _: None)
        trainer.resume()
        trainer.train(iterations)
        state = torch.load(trainer.latest_checkpoint(), weights_only=True)
        if not recorded:
            state.pop("started_from", None)  # (a resumed checkpoint without the record writes none)
            torch.save(state, trainer.latest_checkpoint())
        return json.loads(export_checkpoint(trainer.latest_checkpoint(), "tiny-rcan", 2, benchmark=False,
                                            force=True, curves_dir=None, log=lambda _: None).read_text())

    middle = train_and_export(2)
    end = train_and_export(4)
    assert middle["training"]["started_from"]["sha256"] == first["sha256"] != middle["sha256"]
    assert end["training"]["started_from"]["sha256"] == first["sha256"]  # not the mid-cycle export it replaced
    assert end["training"]["lineage_core_hours"] == pytest.approx(
        first["training"]["core_hours"] + end["training"]["core_hours"], abs=1e-3)


def test_export_measures_the_chosen_datasets_and_insists_on_set5(trained_run, capsys):
    checkpoint, root = trained_run
    assert main(["zoo", "export", str(checkpoint), "--name", "tiny-rcan", "--datasets", "Set14"]) == 2
    assert "must include Set5" in capsys.readouterr().err
    assert main(["zoo", "export", str(checkpoint), "--name", "tiny-rcan", "--datasets", "Set5, Set14"]) == 0
    assert list(json.loads((root / "models" / "tiny-rcan_x2.json").read_text())["metrics"]) == ["Set5", "Set14"]


def test_export_names_a_non_checkpoint(tmp_path, capsys):
    bogus = tmp_path / "weights.pt"
    torch.save({"a": torch.zeros(1)}, bogus)
    assert main(["zoo", "export", str(bogus), "--name", "x"]) == 2
    assert "not a restore training checkpoint" in capsys.readouterr().err


def test_a_refused_export_stops_after_measuring_set5(trained_run, monkeypatch):
    """The other sets and the self-ensemble are measured only for a model that will be kept."""
    import restore.evaluation

    checkpoint, root = trained_run
    export_checkpoint(checkpoint, "tiny-rcan", 2, datasets=("Set5",), curves_dir=root / "curves", log=lambda _: None)
    measured = []
    real_run_benchmark = restore.evaluation.run_benchmark

    def recording_run_benchmark(models, scales, datasets, self_ensemble=False):
        measured.append((tuple(datasets), self_ensemble))
        return real_run_benchmark(models, scales, datasets, self_ensemble=self_ensemble)

    monkeypatch.setattr(restore.evaluation, "run_benchmark", recording_run_benchmark)
    with pytest.raises(RestoreError, match="does not beat the committed"):
        export_checkpoint(checkpoint, "tiny-rcan", 2, datasets=("Set14", "Set5"), self_ensemble_too=True,
                          curves_dir=root / "curves", log=lambda _: None)
    assert measured == [(("Set5",), False)]
