"""The plan of a sweep (forgrad_viz.sweep.plan_sweep) against the forward passes the sweep reports, and the one
progress bar (forgrad_viz.sweep.progress): exact total from the start, never backwards, smoothed ETA."""

from __future__ import annotations

import itertools
import json
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import forgrad_viz as fv
from forgrad_viz.sweep import Progress, compare_architectures, plan_sweep, scoring, sweep_cutoffs
from forgrad_viz.sweep import progress as progress_module
from forgrad_viz.sweep.plan import refine_bound
from forgrad_viz.sweep.progress import Throughput

MUFI = {"grid_size": 4, "n_subsets": 6}
# 1.0 and 1.2 (2.0 and 2.1) keep the same bins at 64x64: 4 distinct filters of 6 cutoffs
CUTOFFS = [1.0, 1.2, 2.0, 2.1, 5.0, 12.0]
BASE = dict(cutoffs=CUTOFFS, steps=3, mufidelity=MUFI, block_size=3, batch_size=16)


@pytest.fixture(scope="module")
def model():
    try:
        return fv.models.load_demo("maxpool_cnn")
    except FileNotFoundError as error:
        pytest.skip(f"demo weights not shipped: {error}")


@pytest.fixture(scope="module")
def data():
    return fv.data.shapes_dataset(5, seed=2)


def check_plan(model, images, **kwargs):
    """The plan, then the sweep: the same forward passes, stage by stage."""
    plan = plan_sweep(model, images, probe=False, **kwargs)
    sweep = sweep_cutoffs(model, images, progress=False, **kwargs)
    assert plan.exact
    assert plan.by_stage == sweep.params["forward_passes_by_stage"]
    assert plan.forward_passes == sweep.params["forward_passes"]
    return plan, sweep


@pytest.mark.parametrize(
    "settings",
    [
        dict(metrics=("deletion", "insertion")),  # two curve metrics, one chunk
        dict(metrics=("mufidelity",), method="smoothgrad", method_options={"n_samples": 3}),
        dict(metrics=("deletion", "mufidelity"), chunk_size=1),  # a unit per filter: attributions per unit
        dict(metrics=("insertion",), references=("rise", "occlusion"), chunk_size=2,
             reference_options={"rise": {"n_masks": 8}, "occlusion": {"window": 16, "stride": 16}}),
    ],
    ids=["two-metrics", "mufidelity", "chunks", "references"],
)  # fmt: skip
def test_plan_counts_the_forward_passes_the_sweep_reports(model, data, settings):
    plan, sweep = check_plan(model, data.images, **{**BASE, **settings})
    curve_metrics = sum(m in ("deletion", "insertion") for m in plan_metrics(settings))
    # an independent count of the curves: 4 distinct filters + the unfiltered map per image and curve metric,
    # endpoints 2 per image and unit (units: chunks of chunk_size filters per block of 3 and 2 images)
    units = -(-4 // settings.get("chunk_size", 100))
    references = len(settings.get("references", ()))
    per_image = curve_metrics * ((4 + 1 + references) * (3 - 1) + 2 * (units + references))
    assert sweep.params["forward_passes_by_stage"].get("curves", 0) == 5 * per_image
    assert plan.maps == 4 + 1 + references and plan.images == 5
    assert sweep.cutoffs.shape == (6,)


def plan_metrics(settings):
    return settings.get("metrics", fv.sweep.DEFAULT_METRICS)


def test_plan_with_given_targets_and_attributions(model, data):
    labels = torch.as_tensor(data.labels)
    kwargs = {**BASE, "metrics": ("deletion",)}
    plan, _ = check_plan(model, DataLoader(TensorDataset(data.images, labels), batch_size=2), **kwargs)
    assert plan.by_stage["targets"] == 1  # the number of classes, once: the data gives every target
    plan, _ = check_plan(model, data.images, targets=labels, **kwargs)
    assert plan.by_stage["targets"] == 1
    attributions = fv.explain(model, data.images, labels)
    plan, _ = check_plan(model, data.images, attributions=attributions, **kwargs)
    assert "attributions" not in plan.by_stage


def test_plan_of_a_resumed_checkpoint_leaves_the_finished_units_out(model, data, tmp_path, monkeypatch):
    kwargs = {
        **BASE,
        "metrics": ("deletion", "mufidelity"),
        "chunk_size": 2,
        "checkpoint": tmp_path / "c.json",
    }
    real, calls = scoring.curves_and_ranking, {"n": 0}

    def interrupted(*args, **kw):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(scoring, "curves_and_ranking", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep_cutoffs(model, data.images, progress=False, **kwargs)
    monkeypatch.setattr(scoring, "curves_and_ranking", real)
    full = plan_sweep(model, data.images, probe=False, **{**kwargs, "checkpoint": None})
    plan, _ = check_plan(model, data.images, **kwargs)
    assert 0 < plan.forward_passes < full.forward_passes
    assert "3 units of work already in the checkpoint" in plan.describe()
    assert plan_sweep(model, data.images, probe=False, **kwargs).forward_passes == 0  # all done now


def test_refine_plan_is_an_upper_bound_and_the_bar_ends_full(model, data, monkeypatch):
    records = record_bar(monkeypatch)
    kwargs = {
        **BASE,
        "cutoffs": np.geomspace(1.5, 30, 16).tolist(),
        "search": "refine",
        "metrics": ("deletion",),
    }
    plan = plan_sweep(model, data.images, probe=False, **kwargs)
    sweep = sweep_cutoffs(model, data.images, **kwargs)
    assert not plan.exact and "at most" in plan.describe()
    done = sweep.params["forward_passes"]
    assert done <= plan.forward_passes < 2 * done
    assert records[0] == (0, plan.forward_passes) and records[-1] == (done, done)
    assert_never_backwards(records)


def test_refine_bound_holds_for_every_unimodal_optimum():
    from forgrad_viz.sweep.search import _GOLDEN, next_point

    for n, metrics in itertools.product((1, 2, 5, 12, 24), (1, 2, 3)):
        cost, points = refine_bound(n, metrics, 2, 5)
        for optima in itertools.combinations_with_replacement(range(n), metrics):  # each metric's peak
            evaluated, request, units = (
                [],
                sorted({round(_GOLDEN * (n - 1)), round((1 - _GOLDEN) * (n - 1))}),
                0,
            )
            while request:
                units += -(-len(request) // 2)
                evaluated = sorted(set(evaluated) | set(request))
                bests = {min(evaluated, key=lambda e, o=o: abs(e - o)) for o in optima}
                request = sorted({next_point(b, evaluated, n) for b in bests} - {None} - set(evaluated))
            assert len(evaluated) <= points <= n
            assert 2 * units + 4 * len(evaluated) <= cost


class Recorder:
    """A stand-in for tqdm recording (n, total) after every change."""

    records: ClassVar[list] = []

    def __init__(self, *args, total=None, disable=False, **kwargs):
        self.total, self.n, self.disable = total, 0, disable
        self.records.append((0, total))

    def update(self, n):
        self.n += n
        self.records.append((self.n, self.total))

    def refresh(self):
        self.records.append((self.n, self.total))

    def set_postfix_str(self, text, refresh=True):
        pass

    def close(self):
        pass

    @staticmethod
    def write(text, file=None):
        print(text, file=file)


def record_bar(monkeypatch):
    monkeypatch.setattr(progress_module, "tqdm", Recorder)
    Recorder.records = []
    return Recorder.records


def assert_never_backwards(records):
    assert all(n <= total for n, total in records)
    assert all(b[0] >= a[0] for a, b in itertools.pairwise(records))
    assert all(b[0] / b[1] >= a[0] / a[1] for a, b in itertools.pairwise(records) if a[1] and b[1])


def test_one_bar_for_a_call_exact_from_the_start(model, data, monkeypatch):
    records = record_bar(monkeypatch)
    kwargs = {**BASE, "references": ("rise",), "reference_options": {"rise": {"n_masks": 8}}}
    sweep = sweep_cutoffs(model, data.images, progress=True, **kwargs)
    done = sweep.params["forward_passes"]
    assert {total for _, total in records} == {done}  # the total never changes: exact from the start
    assert records[-1] == (done, done) and len(records) > 5
    assert_never_backwards(records)


def test_one_bar_for_several_calls_and_models(model, data, monkeypatch):
    records = record_bar(monkeypatch)
    kwargs = {**BASE, "metrics": ("deletion",)}
    methods = ("saliency", "gradient_input")
    plans = [plan_sweep(model, data.images, method=m, probe=False, **kwargs) for m in methods]
    bar = Progress(sum(plans[1:], plans[0]), "two methods")
    sweeps = [sweep_cutoffs(model, data.images, method=m, progress=bar, **kwargs) for m in methods]
    bar.close()
    done = sum(s.params["forward_passes"] for s in sweeps)
    assert {total for _, total in records} == {done} and records[-1] == (done, done)
    assert_never_backwards(records)
    records.clear()
    other = fv.models.load_demo("strided_cnn")
    comparison = compare_architectures(
        {"max": model, "strided": other}, data.images, references=(), progress=True, **kwargs
    )
    done = sum(s.params["forward_passes"] for s in (comparison.sweeps["max"]["saliency"],
                                                     comparison.sweeps["strided"]["saliency"]))  # fmt: skip
    assert {total for _, total in records} == {done} and records[-1] == (done, done)
    assert_never_backwards(records)


def test_plan_paragraph_and_probe(model, data, capsys):
    plan = plan_sweep(model, data.images, **{**BASE, "metrics": ("deletion", "mufidelity")})
    assert plan.probe is not None and plan.probe.rate > 0 and plan.seconds > 0
    assert set(plan.probe.attribution) == {"saliency"}
    text = plan.describe()
    assert text.startswith("Plan (sweep saliency): 5 images x 5 maps = ")
    assert f"{plan.forward_passes:,} forward passes" in text and "MiB" in text and "passes/s" in text
    expected = (plan.forward_passes - plan.by_stage["attributions"]) / plan.probe.rate
    assert plan.seconds == pytest.approx(expected + 5 * plan.probe.attribution["saliency"], rel=1e-9)
    sweep_cutoffs(model, data.images, progress=True, **{**BASE, "metrics": ("deletion",)})
    assert "Plan (sweep saliency): 5 images x 5 maps" in capsys.readouterr().err


def predicted_ends(estimator, slower_from=None):
    """(time, predicted end) along a 20-block run: each block 8 s of attributions at 20 passes/s, then 52 s of
    curves at 100 passes/s, updates every 0.2 s; 4 times slower from block ``slower_from`` on."""
    times, counts, t, n = [], [], 0.0, 0.0
    for block in range(20):
        slow = 4.0 if slower_from is not None and block >= slower_from else 1.0
        for seconds, rate in ((8 * slow, 20 / slow), (52 * slow, 100 / slow)):
            for _ in range(round(seconds / 0.2)):
                t, n = t + 0.2, n + rate * 0.2
                times.append(t)
                counts.append(n)
    ends = [(t, t + (counts[-1] - n) / rate) for t, n, rate in estimator(times, counts)]
    return times[-1], ends


def smoothed(times, counts):
    rate, last = Throughput(prior=100.0, now=0.0), 0.0
    for t, n in zip(times, counts, strict=True):
        rate.add(n - last, now=t)
        last = n
        yield t, n, rate.rate


def tqdm_default(times, counts, alpha=0.3):  # tqdm's smoothing=0.3: an EMA of the last updates' dn and dt
    dn = dt = last_t = last_n = 0.0
    for t, n in zip(times, counts, strict=True):
        dn, dt = alpha * (n - last_n) + (1 - alpha) * dn, alpha * (t - last_t) + (1 - alpha) * dt
        last_t, last_n = t, n
        yield t, n, dn / dt


def test_eta_does_not_swing_and_follows_a_lasting_slowdown():
    end, ends = predicted_ends(smoothed)
    predicted = [e for t, e in ends if t >= 0.02 * end]
    assert 0.95 * end < min(predicted) and max(predicted) < 1.10 * end  # 0.97 to 1.09
    _, ends = predicted_ends(tqdm_default)
    assert max(e for t, e in ends if t >= 0.02 * end) > 4 * end  # what the issue saw: 4.3x
    end, ends = predicted_ends(smoothed, slower_from=10)  # 4x slower from 600 s on: true end 3,000 s
    settled = min(t for t, _ in ends if t > 600 and all(abs(e - end) < 0.2 * end for u, e in ends if u >= t))
    assert settled < 600 + 5 * 60  # within 20% of the true end less than 5 minutes after the change
    assert Throughput().rate is None


def test_progress_rejects_bad_input(model, data):
    with pytest.raises(TypeError, match="plan"):
        Progress(-1)
    with pytest.raises(TypeError, match="progress"):
        sweep_cutoffs(model, data.images, progress="yes", **BASE)
    with pytest.raises(TypeError, match="unexpected keyword"):
        plan_sweep(model, data.images, colour="red")


_TORCHRUN = """
import json, sys, threading
import forgrad_viz as fv
from forgrad_viz.sweep import progress as progress_module
from forgrad_viz.sweep.distributed import distributed_session

records = []


class Recorder:
    def __init__(self, *args, total=None, **kwargs):
        self.n, self.total = 0, total

    def update(self, n):
        self.n += n
        records.append((self.n, self.total, threading.current_thread().name))

    def refresh(self):
        records.append((self.n, self.total, threading.current_thread().name))

    def set_postfix_str(self, text, refresh=True):
        pass

    def close(self):
        pass

    @staticmethod
    def write(text, file=None):
        print(text, file=file)


progress_module.tqdm = Recorder
progress_module.PUSH_SECONDS = 0.02
kwargs = json.loads(sys.argv[1])
model = fv.models.load_demo("maxpool_cnn")
with distributed_session() as info:
    sweep = fv.sweep_cutoffs(model, fv.data.shapes_dataset(20, seed=3).images, progress=True, **kwargs)
    if info.rank == 0:
        with open(sys.argv[2], "w") as file:
            json.dump({"records": records, "passes": sweep.params["forward_passes"]}, file)
    else:
        assert records == [], records  # only rank 0 shows a bar
"""


@pytest.mark.slow
def test_under_torchrun_rank_0_shows_every_rank_s_passes(tmp_path, model):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from test_sweep_distributed import free_port

    script, out = tmp_path / "run.py", tmp_path / "out.json"
    script.write_text(_TORCHRUN)
    # 5 blocks of 4 images: rank 0 sweeps 2, rank 1 sweeps 3 (40% and 60% of the passes)
    kwargs = dict(
        cutoffs=[2.0, 8.0], steps=3, metrics=["deletion", "mufidelity"], mufidelity=MUFI, block_size=4
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port"]
    command += [str(free_port()), str(script), json.dumps(kwargs), str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    records, passes = result["records"], result["passes"]
    plan = plan_sweep(model, fv.data.shapes_dataset(20, seed=3).images, probe=False, **kwargs)
    assert plan.forward_passes == passes  # planned over both ranks, summed by the sweep over both ranks
    assert {total for _, total, _ in records} == {passes} and records[-1][:2] == [passes, passes]
    assert_never_backwards([r[:2] for r in records])
    followed = [n for n, _, thread in records if thread == "forgrad_viz progress"]
    assert max(followed) > 0.5 * passes  # more than rank 0 did alone: rank 1's passes, read while it worked
    assert "Plan (sweep saliency): 20 images" in done.stderr and "over 2 processes" in done.stderr


def test_cli_prints_one_plan_and_shows_one_bar_for_every_method(capsys, tmp_path, monkeypatch):
    from PIL import Image

    from forgrad_viz import cli

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    records = record_bar(monkeypatch)
    args = [
        "sweep",
        "--model",
        "maxpool_cnn",
        "--images",
        str(folder),
        "--methods",
        "saliency",
        "gradient_input",
    ]
    args += [
        "--metrics",
        "deletion",
        "--cutoffs",
        "4,16",
        "--steps",
        "2",
        "--block-size",
        "2",
        "--no-figures",
    ]
    assert cli.main([*args, "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert err.count("Plan (sweep maxpool_cnn): 5 images x 6 maps = ") == 1  # both methods, one paragraph
    done = sum(
        json.loads((tmp_path / "out" / f"maxpool_cnn_{m}.json").read_text())["params"]["forward_passes"]
        for m in ("saliency", "gradient_input")
    )
    assert f"= {done:,} forward passes" in err
    assert {total for _, total in records} == {done} and records[-1] == (done, done)
    assert_never_backwards(records)
