"""torchrun: sharded upscaling and benchmarks, DDP training, each checked against one process.

Every ``torchrun`` line of docs/scaling.md is run through torchrun itself (two gloo processes on this CPU,
or two single-process nodes meeting at a c10d rendezvous for the multi-machine lines), with only process
counts, the host and paths replaced, so that torchrun's own parser sees our options exactly as documented.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import save_file

from loopback import free_port
from restore.cli import main
from restore.distributed import World, balanced_shares
from restore.hashing import sha256_file
from restore.io.atomic import TEMP_PREFIX
from restore.paths import REPO_ROOT

TORCHRUN = REPO_ROOT / ".venv" / "bin" / "torchrun"
DOC = REPO_ROOT / "docs" / "scaling.md"
TINY_RCAN = {"n_resgroups": 1, "n_resblocks": 1, "n_feats": 8, "reduction": 4}

pytestmark = pytest.mark.skipif(not TORCHRUN.exists(), reason="needs torchrun in .venv")


def _doc_commands() -> dict[str, list[str]]:
    """docs/scaling.md's torchrun lines by what they run: ``one-machine upscale``, ``several-machines train``..."""
    commands = {}
    for line in DOC.read_text().splitlines():
        if line.startswith("torchrun "):
            words = shlex.split(line)
            where = "several-machines" if any(word.startswith("--nnodes") for word in words) else "one-machine"
            commands[f"{where} {words[words.index('restore') + 1]}"] = words
    return commands


def test_docs_give_the_commands_these_tests_run() -> None:
    assert sorted(_doc_commands()) == ["one-machine bench", "one-machine train", "one-machine upscale",
                                       "several-machines train", "several-machines upscale"]


def _env(models: Path | None = None, cache: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    if models is not None:
        env["RESTORE_MODELS_DIR"] = str(models)
    if cache is not None:
        env["RESTORE_CACHE"] = str(cache)
    return env


def _as_launched(words: list[str], replace: dict[str, str], nproc: int) -> list[str]:
    """A documented command with its stand-ins replaced: process count, rendezvous host, paths."""
    launched = [str(TORCHRUN)]
    for word in words[1:]:
        if word.startswith("--nproc_per_node="):
            word = f"--nproc_per_node={nproc}"
        launched.append(replace.get(word, word))
    return launched


def _run_doc_line(
    key: str, replace: dict[str, str], cwd: Path, env: dict[str, str]
) -> list[subprocess.CompletedProcess]:
    """Run a documented line: one torchrun with two processes, or two single-process nodes at a rendezvous."""
    words = _doc_commands()[key]
    if key.startswith("one-machine"):
        return [subprocess.run(_as_launched(words, replace, 2), cwd=cwd, env=env, capture_output=True, text=True,
                               timeout=300)]
    endpoint = next(word for word in words if word.startswith("--rdzv-endpoint=")).split("=", 1)[1]
    replace = {**replace, f"--rdzv-endpoint={endpoint}": f"--rdzv-endpoint=127.0.0.1:{free_port()}"}
    nodes = [subprocess.Popen(_as_launched(words, replace, 1), cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    finished = []
    for node in nodes:
        try:
            out, err = node.communicate(timeout=300)
        finally:
            if node.poll() is None:
                node.kill()
        finished.append(subprocess.CompletedProcess(node.args, node.returncode, out, err))
    return finished


def _tiny_card(folder: Path, name: str, scale: int) -> Path:
    """A random-weight RCAN with a model card, as RESTORE_MODELS_DIR holds them (the doc names rcan-compact)."""
    from restore.archs import build_model

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    network = build_model("rcan", scale, **TINY_RCAN)
    weights = folder / f"{name}_x{scale}.safetensors"
    save_file({key: value.contiguous() for key, value in network.state_dict().items()}, str(weights))
    card = {"name": name, "arch": "rcan", "scale": scale, "config": TINY_RCAN, "weights": weights.name,
            "sha256": sha256_file(weights), "summary": "random test weights", "metrics": {}}
    (folder / f"{name}_x{scale}.json").write_text(json.dumps(card))
    return folder


def _photos(folder: Path, sizes=((20, 16), (8, 8), (30, 12), (12, 12), (16, 24), (9, 7))) -> Path:
    rng = np.random.default_rng(0)
    for i, (width, height) in enumerate(sizes):
        path = folder / ("sub" if i % 2 else "") / f"im{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------ the facts


def test_without_torchrun_a_process_is_rank_0_of_1() -> None:
    alone = World.from_env({"PATH": "/bin"})
    assert (alone.rank, alone.size, alone.launched, alone.active) == (0, 1, False, False)
    assert alone.all_gather("x") == ["x"] and alone.broadcast(3) == 3 and alone.device("auto") == "auto"
    launched = World.from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                               "MASTER_ADDR": "h", "MASTER_PORT": "1"})
    assert (launched.rank, launched.size, launched.local_rank, launched.local_size) == (1, 4, 1, 2)
    assert launched.launched


def test_shares_are_balanced_by_weight_cover_every_item_once_and_keep_input_order() -> None:
    weights = [100, 1, 1, 1, 50, 50, 3]
    shares = balanced_shares(weights, 2)
    assert shares == balanced_shares(weights, 2) and sorted(sum(shares, [])) == list(range(len(weights)))
    assert all(share == sorted(share) for share in shares)
    loads = [sum(weights[i] for i in share) for share in shares]
    assert abs(loads[0] - loads[1]) <= max(weights)
    assert balanced_shares([], 3) == [[], [], []]


# ---------------------------------------------------------------------------------------------- upscale


def test_upscale_on_two_ranks_writes_what_one_process_writes(tmp_path: Path, monkeypatch) -> None:
    models = _tiny_card(tmp_path / "models", "rcan-compact", 4)
    photos = _photos(tmp_path / "photos")
    runs = _run_doc_line("one-machine upscale", {"photos/": str(photos), "upscaled/": str(tmp_path / "two")},
                         tmp_path, _env(models))
    assert runs[0].returncode == 0, runs[0].stderr[-3000:]
    assert runs[0].stdout.count("6 upscaled, 0 skipped") == 1  # rank 0 alone prints the summary

    monkeypatch.setenv("RESTORE_MODELS_DIR", str(models))
    assert main(["upscale", str(photos), "-o", str(tmp_path / "one"), "--model", "rcan-compact", "--scale", "4",
                 "-q"]) == 0
    assert _files(tmp_path / "two") == _files(tmp_path / "one") and len(_files(tmp_path / "one")) == 6

    lines = [json.loads(line) for line in (tmp_path / "upscale.jsonl").read_text().splitlines()]
    assert [Path(line["input"]).name for line in lines] == ["im0.png", "im2.png", "im4.png", "im1.png", "im3.png",
                                                             "im5.png"]  # input order
    assert {line["rank"] for line in lines} == {0, 1} and {line["status"] for line in lines} == {"ok"}
    assert not list(tmp_path.glob("upscale.jsonl.rank*"))  # the journals were merged


def test_several_machines_share_a_batch_report_a_failure_and_a_rerun_skips_what_is_done(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    models = _tiny_card(tmp_path / "models", "rcan-compact", 4)
    photos = _photos(tmp_path / "photos")
    (photos / "broken.png").write_bytes(b"not a png")
    out, log = tmp_path / "upscaled", tmp_path / "upscale.jsonl"
    replace = {"/shared/photos": str(photos), "/shared/upscaled": str(out), "/shared/upscale.jsonl": str(log)}
    first = _run_doc_line("several-machines upscale", replace, tmp_path, _env(models))
    assert all(node.returncode != 0 for node in first)  # the failure on one rank is every node's status
    summaries = [node.stdout + node.stderr for node in first if "6 upscaled, 0 skipped" in node.stdout + node.stderr]
    assert len(summaries) == 1 and "FAILED" in summaries[0] and "broken.png" in summaries[0]
    assert len(log.read_text().splitlines()) == 7
    written = _files(out)
    assert len(written) == 6

    # The rerun, here on one process: a batch resumes on any number of ranks.
    monkeypatch.setenv("RESTORE_MODELS_DIR", str(models))
    assert main(["upscale", str(photos), "-o", str(out), "--model", "rcan-compact", "--scale", "4", "-q"]) == 1
    assert "0 upscaled, 6 skipped" in capsys.readouterr().err and _files(out) == written


_DYING_RANK_DRIVER = """
import os, sys
import restore.io.picture as picture

real_encode, calls = picture._encode, []

def encode_then_die_on_rank_1(stream, *args, **kwargs):
    calls.append(1)
    if os.environ["RANK"] == "1" and len(calls) == 2:
        stream.write(b"\\x89PNG half of a file")
        stream.flush()
        os._exit(9)  # killed mid-write: no clean-up of any kind
    return real_encode(stream, *args, **kwargs)

picture._encode = encode_then_die_on_rank_1
from restore.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_rank_dying_mid_batch_leaves_no_partial_output_and_a_rerun_completes_it(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos", sizes=[(12, 10)] * 8)
    driver = tmp_path / "driver.py"
    driver.write_text(_DYING_RANK_DRIVER)
    out = tmp_path / "out"
    command = ["upscale", str(photos), "-o", str(out), "--model", "bicubic", "--scale", "2", "--workers", "0", "-q"]
    crashed = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node=2", str(driver), *command],
                             env=_env(), capture_output=True, text=True, timeout=300)
    assert crashed.returncode != 0
    assert [name for name in _files(out) if Path(name).name.startswith(TEMP_PREFIX)]  # the dead rank's half file
    finished = {name: data for name, data in _files(out).items() if not Path(name).name.startswith(TEMP_PREFIX)}
    assert 1 <= len(finished) < 8
    for name in finished:  # every file under an output name is a whole image
        with Image.open(out / name) as image:
            image.load()

    assert main([*command]) == 0  # the rerun (here one process) does the rest and sweeps the dead writer's leftover
    assert not [name for name in _files(out) if Path(name).name.startswith(TEMP_PREFIX)]
    assert main(["upscale", str(photos), "-o", str(tmp_path / "reference"), *command[4:]]) == 0
    assert _files(out) == _files(tmp_path / "reference")


def test_ranks_given_different_arguments_refuse_before_any_work(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    port = str(free_port())
    ranks = []
    for rank in range(2):
        env = {**_env(), "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
        ranks.append(subprocess.Popen([sys.executable, "-m", "restore", "upscale", str(photos), "-o",
                                       str(tmp_path / f"out{rank}"), "--model", "bicubic", "--scale", "2", "-q"],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for process in ranks:
        try:
            _, err = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 2
        assert "the ranks were started with different arguments" in err and "out1" in err
    assert not (tmp_path / "out0").exists() and not (tmp_path / "out1").exists()


# ------------------------------------------------------------------------------------------------ train


@pytest.fixture()
def recipe(tmp_path: Path, datasets_dir: Path, monkeypatch) -> Path:
    """Six iterations of a tiny RCAN on four 64x64 crops, EMA on, one thread. The global batch of 5 splits into
    unequal slices (2 + 3) on two ranks: the case where averaging the ranks' means would be wrong."""
    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path / "cache"))  # inherited by the ranks
    crops = tmp_path / "crops"
    crops.mkdir()
    for i, source in enumerate(sorted((datasets_dir / "train" / "BSD200").iterdir())[:4]):
        Image.open(source).convert("RGB").crop((100, 100, 164, 164)).save(crops / f"crop{i}.png")
    raw = {
        "name": "tiny", "arch": "rcan", "scale": 2, "network": TINY_RCAN,
        "data": {"train": [str(crops)], "patch_size": 12, "batch_size": 5, "val": "Set5"},
        "train": {"iterations": 6, "lr": 1e-3, "ema": 0.9, "seed": 3, "grad_clip": 10.0},
        "runtime": {"threads": 1},
        "checkpoint": {"dir": str(tmp_path / "run"), "every_seconds": 1e9},
        "validation_every": 0, "log_every": 1,
    }
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_each_rank_cuts_its_part_out_of_the_batch_one_process_draws(recipe: Path) -> None:
    from restore.training.options import load_options
    from restore.training.trainer import Trainer

    sampler = Trainer(load_options(recipe), log=lambda _: None).sampler
    whole_lr, whole_hr = sampler.sample(np.random.default_rng([3, 0, 7]))
    parts = [sampler.sample(np.random.default_rng([3, 0, 7]), part) for part in (range(0, 2), range(2, 5))]
    assert torch.equal(torch.cat([lr for lr, _ in parts]), whole_lr)
    assert torch.equal(torch.cat([hr for _, hr in parts]), whole_hr)


def _one_process_weights(recipe: Path, run_dir: Path, iterations: int | None = None) -> dict:
    from restore.training.options import load_options
    from restore.training.trainer import Trainer

    trainer = Trainer(load_options(recipe, {"checkpoint.dir": str(run_dir)}), log=lambda _: None)
    trainer.train(iterations)
    return torch.load(trainer.latest_checkpoint(), weights_only=True)


def _max_relative_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """The largest per-tensor max|a-b| / max|a| over the floating-point tensors."""
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max() / a[k].abs().max().clamp_min(1e-12))
               for k in a if a[k].is_floating_point())


def _run_dir_checkpoint(run_dir: Path) -> dict:
    return torch.load(sorted(run_dir.glob("checkpoint_*.pt"))[-1], weights_only=True)


def test_two_ranks_train_to_the_weights_of_one_process(tmp_path: Path, recipe: Path, datasets_dir: Path) -> None:
    one = _one_process_weights(recipe, tmp_path / "one")
    runs = _run_doc_line("one-machine train", {"options/rcan-compact_x4.yml": str(recipe),
                                               "/data/datasets": str(datasets_dir)},
                         tmp_path, _env())
    assert runs[0].returncode == 0, runs[0].stderr[-3000:]
    two = _run_dir_checkpoint(tmp_path / "run")
    assert two["iteration"] == one["iteration"] == 6 and two["world_size"] == 2 and one["world_size"] == 1
    assert _max_relative_difference(one["model"], two["model"]) < 1e-5
    assert _max_relative_difference(one["ema"], two["ema"]) < 1e-5
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [record["iteration"] for record in records] == [1, 2, 3, 4, 5, 6]  # rank 0 alone logs
    assert {record["world_size"] for record in records} == {2}
    assert runs[0].stdout.count("saved ") == 1


def test_a_run_resumes_on_another_number_of_ranks(tmp_path: Path, recipe: Path, datasets_dir: Path) -> None:
    straight = _one_process_weights(recipe, tmp_path / "straight")
    _one_process_weights(recipe, tmp_path / "run", iterations=3)  # 3 of 6 on one process ...
    nodes = _run_doc_line("several-machines train", {"options/rcan-compact_x4.yml": str(recipe),
                                                     "/shared/datasets": str(datasets_dir)},
                          tmp_path, _env())  # ... the rest on two machines
    assert all(node.returncode == 0 for node in nodes), [node.stderr[-2000:] for node in nodes]
    assert "on 2 rank(s) instead of 1" in "".join(node.stdout for node in nodes)
    resumed = _run_dir_checkpoint(tmp_path / "run")
    assert resumed["iteration"] == 6 and resumed["world_size"] == 2
    assert _max_relative_difference(straight["model"], resumed["model"]) < 1e-5


# ------------------------------------------------------------------------------------------------ bench

TIMINGS = ("seconds", "seconds_per_image", "total_seconds")


def _without_timings(value):
    if isinstance(value, dict):
        return {key: _without_timings(item) for key, item in value.items() if key not in TIMINGS}
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


def _csv_without_seconds(path: Path) -> list[dict]:
    return [{key: value for key, value in row.items() if key != "seconds"}
            for row in csv.DictReader(io.StringIO(path.read_text()))]


def test_bench_on_two_ranks_reports_what_one_process_reports(tmp_path: Path, monkeypatch, datasets_dir: Path) -> None:
    models = _tiny_card(tmp_path / "models", "rcan-compact", 4)
    two = tmp_path / "two"
    two.mkdir()
    runs = _run_doc_line("one-machine bench", {}, two, _env(models))
    assert runs[0].returncode == 0, runs[0].stderr[-3000:]
    assert runs[0].stdout.count("rcan-compact x4 Set14") == 1

    one = tmp_path / "one"
    one.mkdir()
    monkeypatch.chdir(one)
    monkeypatch.setenv("RESTORE_MODELS_DIR", str(models))
    words = _doc_commands()["one-machine bench"]
    assert main(words[words.index("restore") + 1:]) == 0

    for folder in (one, two):
        assert (folder / "bench-report" / "summary.md").is_file()
    scores = [json.loads((folder / "scores.json").read_text()) for folder in (one, two)]
    assert _without_timings(scores[0]) == _without_timings(scores[1])
    assert [len(row["images"]) for row in scores[1]["results"]] == [5, 14]
    assert _csv_without_seconds(one / "bench-report" / "images.csv") == _csv_without_seconds(
        two / "bench-report" / "images.csv")
