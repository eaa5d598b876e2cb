"""Tests of measuring under load (``forgrad-viz bench --load K``) and of the OpenMP wait policy set at import."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from forgrad_viz import _cpu_load, cli
from forgrad_viz._cpu_load import free_cores, runnable_elsewhere
from forgrad_viz._wait_policy import choose_wait_policy, machine_is_busy
from forgrad_viz.benchmarks.load import busy_processes, loaded_over_idle, run_under_load, timings

ROOT = Path(__file__).resolve().parents[1]


def _children() -> set[int]:
    """Live (not zombie) child processes of this process, read from /proc."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        pids.update(int(p) for p in (task / "children").read_text().split())
    return {pid for pid in pids if Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"}


pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")


def test_busy_processes_spin_then_stop_even_on_interrupt():
    before = _children()
    with pytest.raises(KeyboardInterrupt), busy_processes(2) as busy:
        assert len(busy) == 2 and all(child.poll() is None for child in busy)
        assert {child.pid for child in busy} <= _children() - before
        raise KeyboardInterrupt
    assert all(child.returncode is not None for child in busy)
    assert _children() == before
    with pytest.raises(ValueError, match="count"):
        busy_processes(-1).__enter__()


def test_timings_and_ratios_against_hand_computed_values():
    idle = {"ours_s": 2.0, "parts_s": {"a": 0.5}, "seconds": {"x": 1.0, "peer": None}, "ratio": 3.0}
    loaded = {"ours_s": 7.0, "parts_s": {"a": 2.0}, "seconds": {"x": 1.5, "peer": None}, "ratio": 9.0}
    assert timings(idle) == {"ours_s": 2.0, "parts_s.a": 0.5, "seconds.x": 1.0}
    ratios = loaded_over_idle(idle, loaded)
    assert {k: v["ratio"] for k, v in ratios.items()} == {"ours_s": 3.5, "parts_s.a": 4.0, "seconds.x": 1.5}
    seen = []
    out = run_under_load(lambda: seen.append(len(_children())) or {"seconds": {"x": float(len(seen))}}, 2)
    assert seen[1] - seen[0] == 2  # the second run had the two busy processes
    assert out["loaded_over_idle"]["seconds.x"]["ratio"] == 2.0 and out["load"] == 2


def test_cli_bench_load_prints_ratios_and_never_leaves_a_child(capsys, monkeypatch, tmp_path):
    runs = []

    def fake_run(repeats: int = 1) -> dict:
        runs.append(len(_children()))
        if len(runs) == 3:  # the second loaded run: interrupted by the user
            raise KeyboardInterrupt
        return {"seconds": {"work": 1.0 + len(runs)}}

    module = types.SimpleNamespace(run=fake_run, format_report=lambda r: f"idle work {r['seconds']['work']}")
    monkeypatch.setitem(sys.modules, "forgrad_viz.benchmarks.filter", module)
    before = _children()
    out_json = tmp_path / "bench.json"
    assert cli.main(["bench", "filter", "--load", "3", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "idle work 2.0" in out and "seconds.work" in out and "1.50x" in out  # 3.0 / 2.0
    saved = json.loads(out_json.read_text())
    assert saved["loaded_over_idle"]["seconds.work"] == {"idle": 2.0, "loaded": 3.0, "ratio": 1.5}
    assert runs[1] - runs[0] == 3 and _children() == before
    runs.clear()
    runs.append(0)
    assert cli.main(["bench", "filter", "--load", "2"]) == 130
    assert _children() == before


def _policy_after(code: str, env: dict[str, str]) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    script = f"{code}; import os; print(os.environ.get('OMP_WAIT_POLICY', 'unset'))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**base, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_wait_policy_passive_when_the_machine_is_busy_at_import():
    # two busy processes on this machine: at least one runnable besides the importing process
    with busy_processes(2):
        time.sleep(0.5)
        assert _policy_after("import forgrad_viz", {}) == "PASSIVE"
        assert (
            _policy_after("import forgrad_viz", {"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
        )  # the user's wins
        assert (
            _policy_after("import forgrad_viz", {"GOMP_SPINCOUNT": "1000"}) == "unset"
        )  # a user's choice too
        assert _policy_after("import torch, forgrad_viz", {}) == "unset"  # too late once torch is imported


def _tasks(tmp_path: Path, states: str) -> Path:
    """A fake ``/proc/self/task``: one thread per letter of ``states`` (R runnable, S sleeping)."""
    tasks = tmp_path / "task"
    for tid, state in enumerate(states, start=100):
        (tasks / str(tid)).mkdir(parents=True)
        (tasks / str(tid) / "stat").write_text(f"{tid} (python (main)) {state} 1 2 3")
    return tasks


@pytest.mark.parametrize(
    ("loadavg", "states", "elsewhere"),
    [
        ("0.00 0.01 0.05 1/120 42", "R", 0),  # only the reading thread runs
        ("0.10 0.20 0.30 2/120 42", "R", 1),  # another process runnable now
        ("0.10 0.20 0.30 3/120 42", "RRS", 1),  # two of the three runnable tasks are this process's threads
        ("3.50 2.90 0.50 1/120 42", "RS", 0),  # a high load average alone: work that has ended
        ("garbage", "R", 0),  # unreadable: the machine counts as free
    ],
)
def test_runnable_elsewhere_counts_other_processes_tasks_only(tmp_path, loadavg, states, elsewhere):
    path = tmp_path / "loadavg"
    path.write_text(loadavg)
    tasks = _tasks(tmp_path, states)
    assert runnable_elsewhere(samples=1, loadavg=path, tasks=tasks) == elsewhere
    assert machine_is_busy(samples=1, loadavg=path, tasks=tasks) is (elsewhere >= 1)
    assert free_cores(cores=2, samples=1, loadavg=path, tasks=tasks) == max(1, 2 - elsewhere)
    assert runnable_elsewhere(samples=1, loadavg=tmp_path / "missing", tasks=tasks) == 0


def test_runnable_elsewhere_is_the_median_of_its_readings(tmp_path, monkeypatch):
    # a short-lived task seen in one reading of three must not count; one seen in two of three must
    tasks = _tasks(tmp_path, "R")
    for readings, expected in (([1, 4, 1], 0), ([3, 1, 3], 2), ([2, 2, 2], 1)):
        seen = iter(readings)
        monkeypatch.setattr(_cpu_load, "_runnable_on_machine", lambda path, seen=seen: next(seen))
        assert runnable_elsewhere(samples=3, interval=0.0, tasks=tasks) == expected


def test_free_cores_and_busy_with_real_busy_processes():
    with busy_processes(2):
        time.sleep(0.3)
        assert runnable_elsewhere() >= 2
        assert machine_is_busy()
        assert free_cores(cores=2) == 1
        assert free_cores(cores=64) <= 62


def test_choose_wait_policy_only_on_a_busy_machine_before_torch_and_never_over_the_user():
    for environ, modules, busy, expected in [
        ({}, {}, True, "PASSIVE"),
        ({}, {}, False, None),
        ({}, {"torch": object()}, True, None),
        ({"OMP_WAIT_POLICY": "ACTIVE"}, {}, True, None),
        ({"GOMP_SPINCOUNT": "1000"}, {}, True, None),
    ]:
        before = dict(environ)
        assert choose_wait_policy(environ, modules, busy) == expected
        assert environ == (before if expected is None else {**before, "OMP_WAIT_POLICY": "PASSIVE"})


def test_busy_processes_stop_when_their_parent_is_killed_hard():
    # SIGKILL skips every ``finally``: the busy children must notice their parent is gone and stop by themselves
    parent = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom forgrad_viz.benchmarks.load import busy_processes\n"
         "with busy_processes(2) as children:\n"
         "    print(*[c.pid for c in children], flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )  # fmt: skip
    pids = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(pids) == 2 and all(Path(f"/proc/{pid}").exists() for pid in pids)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_running(pid) for pid in pids):
        time.sleep(0.1)
    assert not any(_running(pid) for pid in pids)


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (orphans are reaped by init, later)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_bench_policies_times_every_setting_free_then_busy_and_leaves_no_child(monkeypatch):
    from forgrad_viz.benchmarks import policies

    seen = []

    def fake_child(setting: str, arguments: tuple) -> dict:
        seen.append((setting, len(_children() - before)))
        return {"forgrad": 1.0 + len(seen), "deletion": 2.0}

    before = _children()
    monkeypatch.setattr(policies, "_child", fake_child)
    result = policies.run(n_maps=2, size=32, n_cutoffs=2, n_images=2, repeats=1, busy=2, rounds=2)
    assert _children() == before
    settings = list(policies.SETTINGS)
    assert seen == [(s, 0) for s in settings] * 2 + [(s, 2) for s in settings] * 2  # busy only for "busy"
    baseline = result["seconds"]["free"]["torch defaults"]
    assert baseline == {
        "forgrad": 3.0,
        "deletion": 2.0,
    }  # the fastest of its rounds: the 2nd process, not the 6th
    assert result["ratios"]["busy"]["1 thread"] == {"forgrad": 13.0 / 3.0, "deletion": 1.0}
    report = policies.format_report(result)
    assert "forgrad, busy" in report and "3.000 s (1.00x)" in report


@pytest.mark.parametrize("setting", ["as shipped", "1 thread"])
def test_bench_policies_child_process_runs_the_work(setting):
    from forgrad_viz.benchmarks import policies

    seconds = policies._child(setting, (2, 32, 2, 2, 1))
    assert set(seconds) == {"forgrad", "deletion"} and all(t > 0 for t in seconds.values())


def test_bench_metrics_and_sweep_report_floor_ratios_of_the_rounds_they_timed():
    from forgrad_viz.benchmarks import metrics as metrics_bench
    from forgrad_viz.benchmarks import sweep as sweep_bench

    result = metrics_bench.run(n_images=2, steps=2, n_subsets=2, peer_images=1, batch_sizes=(16,), repeats=2)
    assert result["forward_passes"] == 2 * (2 * (2 + 1) + 2 + 1)
    assert result["ratio"] == result["floor_s"] / result["ours_s"] and result["repeats"] == 2
    assert result["first_call_s"] == sum(result["first_call_parts_s"].values()) > 0
    assert "first call:" in metrics_bench.format_report(result)
    swept = sweep_bench.run(n_images=2, n_cutoffs=2, steps=2, n_subsets=4, peers=False, repeats=2)
    assert swept["efficiency"] == swept["seconds"]["floor"] / swept["seconds"]["sweep"] > 0
    assert swept["settings"]["repeats"] == 2 and swept["forward_passes"] > 0
    stages = swept["stages"]  # the attributions, the filter, the floor and the rest add up to the sweep
    assert list(stages)[:3] == ["attributions", "filter", "forward passes (floor)"]
    assert sum(stages.values()) == pytest.approx(swept["seconds"]["sweep"], rel=1e-9)
    assert "by stage" in sweep_bench.format_report(swept)


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="needs the onnx extra")
def test_bench_sweep_scores_and_floors_with_the_backend_asked():
    from forgrad_viz.benchmarks import sweep as sweep_bench

    swept = sweep_bench.run(
        n_images=2, n_cutoffs=2, steps=2, n_subsets=4, peers=False, repeats=1, backend="onnxruntime"
    )
    assert swept["settings"]["backend"] == "onnxruntime" and swept["settings"]["precision"] == "fp32"
    assert swept["efficiency"] > 0
    with pytest.raises(ValueError, match="precision"):
        sweep_bench.run(n_images=2, n_cutoffs=2, peers=False, repeats=1, precision="fp8")


def test_bench_scoring_tables_on_a_demo_model_agree_with_an_independent_computation():
    import numpy as np
    import torch

    from forgrad_viz import models
    from forgrad_viz.benchmarks import scoring
    from forgrad_viz.data import shapes_dataset
    from forgrad_viz.scoring import scoring_model

    before = _children()
    result = scoring.run(
        "maxpool_cnn", n_images=4, batch_sizes=(2,), repeats=1, load_images=2, load_steps=2, load_seconds=0.05
    )
    assert _children() == before  # the busy process of table 2 is gone
    names = ["torch fp32", "torch fp32 channels-last", "torch bf16", "onnxruntime fp32"]  # an NCHW model
    assert result["settings"]["memory_format"] == "NCHW"
    assert list(result["ms_per_image"]) == names and all(result["ms_per_image"][n][2] > 0 for n in names)
    for name in names:
        ratio = result["ms_per_image"][name][2] / result["ms_per_image"]["torch fp32"][2]
        assert result["ratio_to_fp32"][name][2] == pytest.approx(ratio, rel=1e-12)
    assert result["agreement"]["torch fp32"]["max_logit_diff"] == 0.0
    # ONNX Runtime against fp32 on the same rows, computed here: batches of 2 over the 4 shapes images
    model = models.load_demo("maxpool_cnn")
    images = shapes_dataset(4, seed=0).images
    runtime = scoring_model(model, backend="onnxruntime")
    with torch.no_grad():
        difference = max(float((runtime(x) - model(x)).abs().max()) for x in images.split(2))
    agreement = result["agreement"]["onnxruntime fp32"]
    assert agreement["max_logit_diff"] == pytest.approx(difference, abs=1e-6) and difference < 1e-4
    assert agreement["rows"] == 4 and agreement["top1_agree"] == 4
    assert result["agreement"]["torch bf16"]["max_logit_diff"] > 0  # bf16 changes the logits a little
    if not result["settings"]["native_bf16"]:  # emulated bf16: one batch of the smallest size
        assert result["agreement"]["torch bf16"]["rows"] == 2
    composition = result["batch_composition"]["onnxruntime fp32"]
    rows = images[np.arange(32) % 4]
    by_size = {size: torch.cat([runtime(x) for x in rows.split(size)]) for size in (1, 8, 32)}
    identical = all(torch.equal(by_size[1], out) for out in by_size.values())
    largest = max(float((by_size[1] - out).abs().max()) for out in by_size.values())
    assert composition["bit_identical"] is identical and composition["max_diff"] == largest
    load = result["load"]["rows"]
    assert set(load) == {"torch", "onnxruntime"} and result["load"]["passes_per_call"] == 2 * (2 + 1)
    for row in load.values():
        assert row["same_numbers"] is True and row["idle_passes_per_s"] > 0
        assert row["loaded_over_idle"] == row["loaded_passes_per_s"] / row["idle_passes_per_s"]
        assert all(idle >= 2 and loaded >= 2 for idle, loaded in row["calls"])
    assert load["torch"]["idle_time_vs_torch"] == 1.0
    report = scoring.format_report(result)
    assert all(name in report for name in names) and "batch composition" in report and "loaded/idle" in report
    with pytest.raises(ValueError, match="model"):
        scoring.run("no_such_model")
    with pytest.raises(ValueError, match="batch_sizes"):
        scoring.run("maxpool_cnn", batch_sizes=(0,))


def test_cli_bench_scoring_passes_its_options(monkeypatch, capsys, tmp_path):
    seen = {}

    def fake_run(model="m", images=None, n_images=1, repeats=1, compile=False, busy=1, device="cpu") -> dict:
        seen.update(model=model, images=images, n_images=n_images, compile=compile, busy=busy)
        return {"ok": True}

    module = types.SimpleNamespace(run=fake_run, format_report=lambda r: "scoring report")
    monkeypatch.setitem(sys.modules, "forgrad_viz.benchmarks.scoring", module)
    argv = [
        "bench",
        "scoring",
        "--model",
        "maxpool_cnn",
        "--images",
        str(tmp_path),
        "--compile",
        "--load",
        "2",
    ]
    assert cli.main([*argv, "--n-images", "3"]) == 0
    assert seen == {
        "model": "maxpool_cnn",
        "images": str(tmp_path),
        "n_images": 3,
        "compile": True,
        "busy": 2,
    }
    assert "scoring report" in capsys.readouterr().out
    assert cli.main(["bench", "widget", "--compile"]) == 1
    assert "does not take --compile" in capsys.readouterr().err
