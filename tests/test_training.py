"""Training pipeline: learning happens, resume is exact, bad recipes fail before training."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from restore.cli import main
from restore.training.options import OptionsError, ScheduleOptions, load_options
from restore.training.schedule import learning_rate
from restore.training.trainer import Trainer, init_from_checkpoint

TINY_NET = {"n_resgroups": 1, "n_resblocks": 1, "n_feats": 8, "reduction": 4}


@pytest.fixture()
def crops(training_crops):
    """Six 96x96 crops of training images (conftest's), under the name these tests use."""
    return training_crops


def _recipe(tmp_path, crops, **train):
    raw = {
        "name": "tiny", "arch": "rcan", "scale": 2, "network": TINY_NET,
        "data": {"train": [str(crops)], "patch_size": 16, "batch_size": 4, "val": "Set5"},
        "train": {"iterations": 40, "lr": 2e-3, "ema": 0.0, "seed": 3, **train},
        "runtime": {"threads": 1},
        "checkpoint": {"dir": str(tmp_path / "run"), "every_seconds": 1e9},
        "validation_every": 0, "log_every": 1000,
    }
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_few_dozen_iterations_raise_validation_psnr(tmp_path, crops):
    trainer = Trainer(load_options(_recipe(tmp_path, crops)), log=lambda _: None)
    start = trainer.validate()
    trainer.train()
    assert trainer.validate() > start + 1.0


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "torch.compile"])
def test_resume_replays_the_uninterrupted_run_exactly(tmp_path, crops, compiled):
    # torch.compile: the resumed process compiles afresh, and its kernels must replay the uninterrupted run's steps.
    recipe = _recipe(tmp_path, crops, iterations=12, ema=0.9, grad_clip=10.0)
    straight = Trainer(load_options(recipe, {"checkpoint.dir": str(tmp_path / "a"), "runtime.compile": compiled}),
                       log=lambda _: None)
    straight.train()

    first = Trainer(load_options(recipe, {"checkpoint.dir": str(tmp_path / "b"), "runtime.compile": compiled}),
                    log=lambda _: None)
    first.train(iterations=6)
    torch._dynamo.reset()  # as in a new process: nothing compiled carries over to the resumed run
    resumed = Trainer(load_options(recipe, {"checkpoint.dir": str(tmp_path / "b"), "runtime.compile": compiled}),
                      log=lambda _: None)
    resumed.resume(resumed.latest_checkpoint())
    assert resumed.iteration == 6
    resumed.train()

    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    for key, value in straight.ema.module.state_dict().items():
        assert torch.equal(value, resumed.ema.module.state_dict()[key]), key


# The entries `restore train` wrote before the one training core (commit 8c0e36c); a run cut then resumes now.
OLD_SR_CHECKPOINT_KEYS = ("model", "ema", "optimizer", "iteration", "elapsed_seconds", "cpu_seconds", "history",
                          "torch_rng", "options_file", "arch", "scale", "network", "hardware", "world_size")


def test_a_checkpoint_written_before_the_training_core_resumes_exactly(tmp_path, crops):
    import json

    recipe = _recipe(tmp_path, crops, iterations=10, ema=0.9, grad_clip=10.0)
    every_step = {"log_every": 1}
    straight = Trainer(load_options(recipe, {**every_step, "checkpoint.dir": str(tmp_path / "a")}), log=lambda _: None)
    straight.train()

    first = Trainer(load_options(recipe, {**every_step, "checkpoint.dir": str(tmp_path / "b")}), log=lambda _: None)
    first.train(iterations=4)
    path = first.latest_checkpoint()
    state = torch.load(path, weights_only=True)
    state["elapsed_seconds"] = state.pop("wall_seconds")
    torch.save({key: state[key] for key in OLD_SR_CHECKPOINT_KEYS}, path)

    resumed = Trainer(load_options(recipe, {**every_step, "checkpoint.dir": str(tmp_path / "b")}), log=lambda _: None)
    assert resumed.resume()
    assert resumed.iteration == 4 and resumed.wall_seconds == state["elapsed_seconds"]
    resumed.train()
    losses = [{record["iteration"]: record["loss"] for record in map(json.loads, run.log_path.read_text().splitlines())}
              for run in (straight, resumed)]
    assert losses[0] == losses[1] and sorted(losses[1]) == list(range(1, 11))  # the next steps' losses, exactly
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    for key, value in straight.ema.module.state_dict().items():
        assert torch.equal(value, resumed.ema.module.state_dict()[key]), key


def test_every_recipe_reads_through_the_one_recipe_reader():
    """Every file under options/ loads unchanged: SR and style recipes through restore.training.recipe (by their
    task), the campaign and ablation plans through their own readers (which read the recipes they name)."""
    from restore.paths import REPO_ROOT
    from restore.style.train import StyleOptions, load_style_options
    from restore.training import ablation_plan, campaign
    from restore.training.options import Options

    files = sorted((REPO_ROOT / "options").rglob("*.yml"))
    kinds = {}
    for path in files:
        raw = yaml.safe_load(path.read_text())
        if "stages" in raw:
            for stage in campaign.load_plan(path).stages:  # a stage trains an SR or a style recipe
                recipe = REPO_ROOT / stage.recipe
                if yaml.safe_load(recipe.read_text()).get("task") == "style":
                    assert isinstance(load_style_options(recipe), StyleOptions)
                else:
                    assert isinstance(load_options(recipe), Options)
            kinds[path.name] = "campaign plan"
        elif "variants" in raw:
            assert isinstance(load_options(ablation_plan.load_plan(path).recipe), Options)
            kinds[path.name] = "ablation plan"
        elif raw.get("task") == "style":
            assert isinstance(load_style_options(path), StyleOptions)
            kinds[path.name] = "style"
        else:
            assert isinstance(load_options(path), Options)
            kinds[path.name] = "sr"
    assert len(kinds) == len(files) and {"sr", "style", "campaign plan", "ablation plan"} <= set(kinds.values())


def test_the_style_recipe_takes_overrides_and_names_unknown_keys(tmp_path):
    from restore.paths import REPO_ROOT
    from restore.style.train import load_style_options

    recipe = REPO_ROOT / "options" / "sanet-vgg16_colour.yml"
    options = load_style_options(recipe, {"train.weights.identity1": 50.0, "data.crop": 64})
    assert options.train.weights.identity1 == 50.0 and options.data.crop == 64 and options.train.seed == 22
    with pytest.raises(OptionsError, match=r"\.yml\.train: unknown option\(s\) wieghts"):
        load_style_options(recipe, {"train.wieghts": {}})
    bare = tmp_path / "bare.yml"
    bare.write_text("task: style\n")
    with pytest.raises(OptionsError, match="missing required option\\(s\\) name"):
        load_style_options(bare)


def test_sigterm_finishes_the_step_and_checkpoints(tmp_path, crops):
    """``kill <pid>`` ends a background run cleanly: the current step completes and a checkpoint is written."""
    import os
    import signal

    recipe = _recipe(tmp_path, crops, iterations=40)
    options = load_options(recipe, {"log_every": 1})

    def log(message: str) -> None:
        if message.startswith("iter       5/"):
            os.kill(os.getpid(), signal.SIGTERM)

    trainer = Trainer(options, log=log)
    trainer.train()
    assert trainer.iteration == 5
    latest = trainer.latest_checkpoint()
    assert latest is not None and latest.name == "checkpoint_00000005.pt"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone after training


def test_missing_data_folder_fails_before_training(tmp_path, crops, capsys):
    recipe = _recipe(tmp_path, crops)
    raw = yaml.safe_load(recipe.read_text())
    raw["data"]["train"] = ["train/does-not-exist"]
    recipe.write_text(yaml.safe_dump(raw))
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "training data folder not found" in err and "does-not-exist" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arch": "srcnn"}, "unknown arch 'srcnn'"),
        ({"network": {"n_layers": 3}}, "network options do not fit arch 'rcan'"),
        ({"trian": {}}, "unknown option(s) trian"),
        ({"train": {"schedule": {"type": "linear"}}}, "train.schedule.type"),
        ({"scale": 5}, "scale must be 2, 3 or 4"),
    ],
)
def test_bad_recipes_are_named(tmp_path, crops, capsys, change, message):
    recipe = _recipe(tmp_path, crops)
    raw = {**yaml.safe_load(recipe.read_text()), **change}
    recipe.write_text(yaml.safe_dump(raw))
    assert main(["train", str(recipe), "--check"]) == 2
    assert message in capsys.readouterr().err


def test_shipped_recipes_are_valid(datasets_dir):
    from restore.paths import REPO_ROOT

    for recipe in sorted((REPO_ROOT / "options").glob("*_x2.yml")):
        assert main(["train", str(recipe), "--check"]) == 0


def test_x2_body_initialises_x4(tmp_path):
    from restore.archs import build_model

    x2 = build_model("rcan", 2, **TINY_NET)
    torch.save(x2.state_dict(), tmp_path / "x2.pt")
    x4 = build_model("rcan", 4, **TINY_NET)
    fresh_tail = x4.state_dict()["tail.0.2.weight"].clone()
    init_from_checkpoint(x4, tmp_path / "x2.pt", "rcan", log=lambda _: None)
    assert torch.equal(x4.state_dict()["body.0.body.0.body.0.weight"], x2.state_dict()["body.0.body.0.body.0.weight"])
    assert torch.equal(x4.state_dict()["tail.0.2.weight"], fresh_tail)

    rdn = build_model("rdn", 2, G0=8, D=2, C=2, G=4)
    torch.save(rdn.state_dict(), tmp_path / "rdn.pt")
    with pytest.raises(Exception, match="does not fit this network"):
        init_from_checkpoint(build_model("rcan", 4, **TINY_NET), tmp_path / "rdn.pt", "rcan", log=lambda _: None)


def test_schedules():
    cosine = ScheduleOptions(type="cosine", warmup=10, eta_min=0.0)
    assert learning_rate(0, 1.0, 110, cosine) == pytest.approx(0.1)
    assert learning_rate(10, 1.0, 110, cosine) == pytest.approx(1.0)
    assert learning_rate(60, 1.0, 110, cosine) == pytest.approx(0.5)
    assert learning_rate(110, 1.0, 110, cosine) == pytest.approx(0.0, abs=1e-12)
    step = ScheduleOptions(type="step", milestones=[5, 8], gamma=0.5)
    assert [learning_rate(i, 1.0, 10, step) for i in (4, 5, 8)] == [1.0, 0.5, 0.25]
    assert not math.isnan(learning_rate(0, 1.0, 1, ScheduleOptions()))


def test_patch_sampler_pairs_lr_and_hr_exactly(tmp_path, crops):
    from restore.metrics.imresize import imresize
    from restore.training.data import PatchCache, PatchSampler

    cache = PatchCache.build([crops], 2, log=lambda _: None)
    sampler = PatchSampler(cache, patch_size=8, batch_size=3)
    lr, hr = sampler.sample(np.random.default_rng(0))
    assert lr.shape == (3, 3, 8, 8) and hr.shape == (3, 3, 16, 16)
    # Flips, transposes and slicing commute with the degradation away from borders: check the interior.
    down = imresize(hr.to(torch.uint8), 0.5).float()
    assert (down[..., 2:-2, 2:-2] - lr[..., 2:-2, 2:-2]).abs().max() <= 1
    again = PatchCache.build([crops], 2, log=lambda _: None)  # served from the cache
    assert np.array_equal(again.pixels, cache.pixels)


def test_images_smaller_than_a_patch_on_both_sides_are_skipped(tmp_path, crops):
    from restore.training.data import PatchCache, PatchSampler

    Image.new("RGB", (20, 20), (10, 20, 30)).save(crops / "tiny.png")  # 10x10 LR at x2: both sides short
    cache = PatchCache.build([crops], 2, log=lambda _: None)
    sampler = PatchSampler(cache, patch_size=40, batch_size=8)
    tiny = [i for i, e in enumerate(cache.index) if e.name == "tiny.png"][0]
    assert tiny not in set(sampler.usable)
    for seed in range(5):
        lr, _ = sampler.sample(np.random.default_rng(seed))
        assert lr.shape == (8, 3, 40, 40)
