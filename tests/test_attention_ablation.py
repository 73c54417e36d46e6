"""The attention ablation's runner end to end on a tiny dry configuration: the plan's order, equal-time sizing,
skipping finished runs, resuming a cut one, the rows, and the report."""
from __future__ import annotations

import argparse
import importlib.util
import json
import socket
import subprocess
import sys

import pytest
import yaml

from restore.paths import REPO_ROOT
from restore.training.ablation_plan import load_plan
from restore.training.options import OptionsError, load_options
from restore.training.trainer import Trainer

TINY_NET = {"n_resgroups": 1, "n_resblocks": 1, "n_feats": 8, "reduction": 4}


def _script():
    spec = importlib.util.spec_from_file_location("attention_ablation", REPO_ROOT / "scripts" / "attention_ablation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def tiny_plan(tmp_path, training_crops):
    """The real plan and recipe, shrunk: a tiny net on six crops, two main variants, one study, Set5 only."""
    recipe = yaml.safe_load((REPO_ROOT / "options" / "ablation" / "attention_x2.yml").read_text())
    recipe["network"].update(TINY_NET)
    recipe["data"].update(train=[str(training_crops)], patch_size=16, batch_size=2)
    (tmp_path / "recipe.yml").write_text(yaml.safe_dump(recipe))
    plan = yaml.safe_load((REPO_ROOT / "options" / "ablation" / "attention_plan.yml").read_text())
    plan.update(recipe=str(tmp_path / "recipe.yml"), seeds=[0], third_seed={"seed": 1, "top": 1}, eval_sets=["Set5"],
                main=["none", "se"], studies={"SE squeeze": {"avg": "se", "max": "se-max"}})
    path = tmp_path / "plan.yml"
    path.write_text(yaml.safe_dump(plan))
    return path


def _argv(tmp_path, plan, *extra):
    return ["--plan", str(plan), "--budget-core-minutes", "0.0001", "--warmup", "1", "--timed", "2",
            "--min-iterations", "6", "--validations", "1", "--gflops-size", "32", "--runs", str(tmp_path / "runs"),
            "--results", str(tmp_path / "results.json"), "--costs", str(tmp_path / "costs.json"), *extra]


def test_the_shipped_plan_declares_every_attention_and_the_studies():
    from restore.blocks import list_attentions

    plan = load_plan(REPO_ROOT / "options" / "ablation" / "attention_plan.yml")
    assert {plan.variants[variant]["attention"] for variant in plan.main} == set(list_attentions())
    assert plan.seeds == [0, 1] and plan.third_seed == 2 and plan.third_top == 4
    assert plan.network("cbam") == {**load_options(plan.recipe).network, "attention": "cbam"}
    assert set(plan.study_variants()) == {"se-r4", "se-r16", "se-max", "se-hardsigmoid", "gc-scale"}
    assert load_options(REPO_ROOT / "options" / "rcan-compact_x2.yml").network.items() <= plan.network("se").items()


def test_third_seed_waits_for_the_main_table_then_goes_to_the_best(tiny_plan):
    plan = load_plan(tiny_plan)
    assert plan.runs({"none": 30.0}) == [("none", 0), ("se", 0)]
    assert plan.runs({"none": 30.0, "se": 31.0}) == [("none", 0), ("se", 0), ("se", 1), ("se-max", 0)]


def test_a_plan_naming_an_undeclared_variant_fails(tmp_path, tiny_plan):
    raw = yaml.safe_load(tiny_plan.read_text())
    raw["main"].append("mystery")
    (tmp_path / "bad.yml").write_text(yaml.safe_dump(raw))
    with pytest.raises(OptionsError, match="mystery"):
        load_plan(tmp_path / "bad.yml")


def test_runner_walks_the_plan_skips_finished_runs_and_reports(tmp_path, tiny_plan, capsys):
    script = _script()
    assert script.main(_argv(tmp_path, tiny_plan)) == 0
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    runs = sorted((row["variant"], row["seed"]) for row in rows)
    best = max((row for row in rows if row["seed"] == 0 and row["variant"] in ("none", "se")),
               key=lambda row: row["set5_psnr"])["variant"]
    assert runs == sorted([("none", 0), ("se", 0), (best, 1), ("se-max", 0)])
    for row in rows:
        assert row["iterations"] == 6 and row["core_hours"] > 0 and row["gflops"] > 0 and row["set14_psnr"] is None
        assert 10 < row["set5_psnr"] < 40 and row["cpu_ms"] is None and row["curve"][-1]["iteration"] == 6
    assert {row["variant"]: row["attention"] for row in rows}["se-max"] == "se"
    assert {row["variant"]: row["params"] for row in rows}["none"] < {row["variant"]: row["params"] for row in rows}["se"]

    # A rerun finds nothing to do; the cost benchmark's column is filled in from its file when rows are written.
    capsys.readouterr()
    assert script.main(_argv(tmp_path, tiny_plan)) == 0
    assert "every run of the plan is finished" in capsys.readouterr().out
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == rows

    (tmp_path / "costs.json").write_text(json.dumps({"rows": [{"variant": "se", "cpu_ms": 12.5}]}))
    report, chart = tmp_path / "doc" / "attention.md", tmp_path / "doc" / "curves" / "attention.png"
    assert script.main(_argv(tmp_path, tiny_plan, "--report", "--report-path", str(report), "--chart", str(chart))) == 0
    text = report.read_text()
    assert "| se | `se` in every RCAB | 1 |" in text and "12.5" in text and "## SE squeeze" in text
    assert "Short runs favour cheap blocks" in text and chart.stat().st_size > 0


def test_a_second_worker_skips_the_run_a_live_worker_claimed_and_takes_over_a_dead_ones(tmp_path, tiny_plan, capsys):
    script = _script()
    claim = tmp_path / "runs" / "none" / "seed0" / "claim.json"
    claim.parent.mkdir(parents=True)
    other_worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        claim.write_text(json.dumps({"pid": other_worker.pid, "host": socket.gethostname()}))
        assert script.main(_argv(tmp_path, tiny_plan)) == 0
        rows = json.loads((tmp_path / "results.json").read_text())["rows"]
        assert [(row["variant"], row["seed"]) for row in rows] == [("se", 0)]  # the rest waits for none's row
        assert "taken by other workers" in capsys.readouterr().out
        assert json.loads(claim.read_text())["pid"] == other_worker.pid
    finally:
        other_worker.kill()
        other_worker.wait()

    assert script.main(_argv(tmp_path, tiny_plan)) == 0  # the claim's process is gone: its run is taken over
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert ("none", 0) in {(row["variant"], row["seed"]) for row in rows} and len(rows) == 4
    assert not list((tmp_path / "runs").glob("*/*/claim.json"))  # every worker released what it claimed


def test_runner_resumes_a_cut_run_from_its_checkpoint(tmp_path, tiny_plan, capsys):
    script = _script()
    plan = load_plan(tiny_plan)
    run_dir = tmp_path / "runs" / "none" / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "sizing.json").write_text(json.dumps({"budget_core_minutes": 1.0, "iters_per_core_s": 1.0,
                                                      "iterations": 8}))
    args = argparse.Namespace(validations=1, threads=1, runs=tmp_path / "runs")
    Trainer(script.run_options(plan, "none", 0, 8, args), log=lambda _: None).train(iterations=5)

    raw = yaml.safe_load(tiny_plan.read_text())
    raw.update(main=["none"], studies={}, third_seed=None)
    (tmp_path / "one.yml").write_text(yaml.safe_dump(raw))
    assert script.main(_argv(tmp_path, tmp_path / "one.yml")) == 0
    assert "at iteration 5" in capsys.readouterr().out
    [row] = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["iterations"] == 8 and row["budget_core_minutes"] == 1.0  # the cut run kept its own schedule


def test_cost_benchmark_times_the_plan_variants_and_fills_the_cost_column(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_attention_cost",
                                                  REPO_ROOT / "benchmarks" / "bench_attention_cost.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ablation = tmp_path / "ablation.json"
    ablation.write_text(json.dumps({"meta": {"threads": 1}, "rows": [{"variant": "se-max", "seed": 0, "cpu_ms": None},
                                                                     {"variant": "nl", "seed": 0, "cpu_ms": None}]}))
    assert bench.main(["--size", "12", "--repeats", "2", "--only", "se-max,none", "--costs", str(tmp_path / "c.json"),
                       "--ablation", str(ablation)]) == 0
    costs = {row["variant"]: row for row in json.loads((tmp_path / "c.json").read_text())["rows"]}
    assert set(costs) == {"se-max", "none"} and len(costs["se-max"]["runs_cpu_ms"]) == 2 and costs["none"]["cpu_ms"] > 0
    rows = {row["variant"]: row for row in json.loads(ablation.read_text())["rows"]}
    assert rows["se-max"]["cpu_ms"] == costs["se-max"]["cpu_ms"] and rows["nl"]["cpu_ms"] is None


def test_interleaved_timing_writes_every_variants_rate_and_sizes_new_runs_from_it(tmp_path, tiny_plan):
    script = _script()
    assert script.main(_argv(tmp_path, tiny_plan, "--measure-throughputs", "--rounds", "2")) == 0
    plan = load_plan(tiny_plan)
    record = json.loads((tmp_path / "attention_ablation_throughput.json").read_text())
    assert list(record["iters_per_core_s"]) == ["none", "se", "se-max"]  # what the plan runs, in its order
    for variant in record["iters_per_core_s"]:
        rate = json.loads((tmp_path / "runs" / variant / "throughput.json").read_text())
        assert rate["iters_per_core_s"] > 0 and rate["method"].startswith("interleaved")
        assert round(rate["iters_per_core_s"], 4) == record["iters_per_core_s"][variant]
    # A run started afterwards takes its step count from the written rate, not a probe of its own.
    args = argparse.Namespace(runs=tmp_path / "runs", results=tmp_path / "results.json", budget_core_minutes=1.0,
                              min_iterations=1, warmup=1, timed=2)
    rate = json.loads((tmp_path / "runs" / "se" / "throughput.json").read_text())["iters_per_core_s"]
    assert script.sizing(plan, "se", 0, args)["iterations"] == round(60 * rate)


def test_a_fresh_machine_sizes_later_seeds_from_the_committed_rates_not_a_new_probe(tmp_path, tiny_plan, monkeypatch):
    """Without the runs folder, seed 1 gets seed 0's budget from the record beside the results."""
    script = _script()
    (tmp_path / "attention_ablation_throughput.json").write_text(json.dumps({"iters_per_core_s": {"se": 1.5}}))

    def no_probe(*args, **kwargs):
        raise AssertionError("a variant with a recorded rate was probed again")

    monkeypatch.setattr(script, "measure_throughput", no_probe)
    args = argparse.Namespace(runs=tmp_path / "runs", results=tmp_path / "results.json", budget_core_minutes=8.0,
                              min_iterations=1, warmup=1, timed=2)
    size = script.sizing(load_plan(tiny_plan), "se", 1, args)
    assert size["iterations"] == 720 and size["iters_per_core_s"] == 1.5  # 8 core-minutes at 1.5 it per core-s


def test_the_report_draws_no_conclusion_until_every_main_variant_has_every_seed():
    script = _script()
    plan = load_plan(REPO_ROOT / "options" / "ablation" / "attention_plan.yml")

    def row(variant: str, seed: int, set5: float) -> dict:
        return {"variant": variant, "seed": seed, "set5_psnr": set5, "set14_psnr": 30.0, "params": 1, "gflops": 1.0,
                "iterations": 10, "core_hours": 0.1, "budget_core_minutes": 8}

    first_seed = [row(variant, 0, 34.0 + 0.01 * i) for i, variant in enumerate(plan.main)]
    partial = script.report_markdown(plan, first_seed, {}, "chart.png")
    assert "not complete yet (every variant at seeds 0, 1)" in partial and "beat" not in partial.split("## What it says")[1].split("##")[0]
    both_seeds = first_seed + [row(variant, 1, 34.0 + 0.01 * i) for i, variant in enumerate(plan.main)]
    complete = script.report_markdown(plan, both_seeds, {}, "chart.png")
    assert "not complete" not in complete and "beat RCAN's own channel attention" in complete

    # A study reads only once every setting has two seeds: its best setting, and which gaps beat the spread.
    assert "The studies" not in complete
    title, settings = next(iter(plan.studies.items()))
    (best_label, best), *others = settings.items()
    scores = {variant: 34.5 if variant == best else 34.2 for variant in settings.values()}
    studied = [r for r in both_seeds if r["variant"] not in scores] + [
        row(variant, seed, score + 0.002 * seed - 0.001) for variant, score in scores.items() for seed in (0, 1)]
    findings = script.study_findings(plan, script.summarise(studied, {}))
    assert len(findings) == 1 and findings[0].startswith(f"- {title}: {best_label} scores highest (34.500 dB)")
    assert all(f"{label} -0.300 dB (beyond the spread)" in findings[0] for label, _ in others)
    assert "The studies" in script.report_markdown(plan, studied, {}, "chart.png")
