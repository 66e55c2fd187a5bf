"""Fewer sampling steps (benchmarks/steps_curve.py, experiments' generators with a stride): the
number of network evaluations is counted, not assumed, and the curve's rows merge without loss."""
import math

import pytest

import pandas as pd
import torch

from benchmarks import steps_curve as SC
from colddiff_lib import pretrained
from colddiff_lib.experiments import fitted_degradation, sample_from_prior
from colddiff_lib.precision import restorer
from colddiff_lib.sampling import batched, estimated_noise


def test_a_generator_with_a_stride_calls_the_network_t_over_k_times_and_is_the_strided_sampler():
    model, info = pretrained.load("hot-mnist")
    cfg = info["config"]
    for k in (50, 30):
        net = SC.Counted(model)
        with torch.no_grad():
            x, x_T = sample_from_prior(cfg, net, 2, "estimated noise", seed=3, progress=False, stride=k)
        assert net.calls == math.ceil(200 / k)                     # levels 200, 200-k, ..., > 0
    net = SC.Counted(model)                 # bf16 samples a channels-last copy: the copy's calls count too
    with torch.no_grad():
        sample_from_prior(cfg, net, 2, "estimated noise", seed=3, progress=False, stride=50, precision="bf16")
    assert net.calls == 4
    D = fitted_degradation(cfg)
    _, state = D.prior(2, torch.Generator().manual_seed(3))
    with torch.no_grad():                                          # the last one is the library's sampler, stride 30
        ref = batched(estimated_noise, restorer(model), D, x_T, state, stride=30).clamp(-1, 1)
    assert torch.allclose(x, ref, atol=1e-5)


def test_restoration_points_count_direct_as_one_call_and_a_stride_as_ceil_t_over_k(tmp_path):
    rows = SC.measure("superres-mnist-smoke", [0, 1, 2], n=16, policy="fp32")
    got = {(r["sampler"], r["stride"]): r["network evaluations"] for r in rows}
    T = rows[0]["T"]
    assert got == {("Direct", None): 1, ("Algorithm 2", 1): T, ("Algorithm 2", 2): math.ceil(T / 2)}
    assert all(r["N"] == 16 and r["precision"] == "fp32" and r["FID"] > 0 and 0 < r["SSIM"] <= 1 for r in rows)
    # a rerun replaces its own rows and keeps the others
    out = tmp_path / "steps"
    SC.merge(rows, out)
    again = [dict(r, FID=-1.0) for r in rows[:1]]
    df = SC.merge(again, out)
    assert len(df) == 3 and df.loc[df["sampler"] == "Direct", "FID"].tolist() == [-1.0]


def test_committed_points_are_the_tables_rows():
    name = pretrained.cpu_models("superres")[0]              # the model whose rows Table 3 holds
    steps = pretrained.get_spec(name).config().train_steps
    assert steps > 3000, "Table 3's MNIST rows come from a model trained past the profile's 3,000 steps"
    rows = {r["sampler"]: r for r in SC.committed_rows(name)}
    t3 = pd.read_csv(SC.TABLES / "table3.csv")
    t3 = t3[(t3["dataset"] == "mnist") & (t3["train steps"] == steps)].set_index("column")
    assert len(t3) == 3
    assert rows["Algorithm 2"]["FID"] == t3.loc["Sampled", "FID"] and rows["Algorithm 2"]["network evaluations"] == 3
    assert rows["Direct"]["FID"] == t3.loc["Direct", "FID"] and rows["Direct"]["network evaluations"] == 1


def test_the_figure_shows_each_tasks_longest_trained_model_and_no_incomparable_bf16_point():
    r = lambda model, task, steps, nfe, prec: {"model": model, "task": task, "train steps": steps,
                                               "network evaluations": nfe, "precision": prec}
    df = pd.DataFrame([r("deblur-a", "deblur", 3000, 20, "fp32"), r("deblur-a", "deblur", 3000, 5, "bf16"),
                       r("deblur-b", "deblur", 9542, 20, "fp32"), r("deblur-b", "deblur", 9542, 1, "fp32"),
                       r("hot-a", "hot", 3000, 200, "fp32"), r("hot-a", "hot", 3000, 20, "bf16"),
                       r("hot-b", "hot", 22866, 200, "bf16"),                 # one point only: no curve
                       r("superres-a", "superres", 9570, 3, "bf16"), r("superres-a", "superres", 9570, 1, "bf16")])
    kept = SC.comparable(df)
    # deblurring's x_T cannot be held in bf16 (tasks.Task.fp32_sampling); hot's and super-resolution's can
    assert list(kept.index) == [0, 2, 3, 4, 5, 6, 7, 8]
    assert SC.figure_models(kept) == ["deblur-b", "hot-a", "superres-a"]
    # a longer-trained model that is not shipped (weights never committed, or gone) keeps its rows, not the panel
    longer = pd.concat([kept, pd.DataFrame([r("deblur-c", "deblur", 20000, 20, "fp32"),
                                            r("deblur-c", "deblur", 20000, 1, "fp32")])], ignore_index=True)
    assert SC.figure_models(longer) == ["deblur-c", "hot-a", "superres-a"]
    assert SC.figure_models(longer, shipped={"deblur-b", "hot-a", "superres-a"}) == ["deblur-b", "hot-a", "superres-a"]


def test_the_page_says_which_incomparable_bf16_rows_have_an_fp32_twin(tmp_path):
    r = lambda model, prec: {"model": model, "task": "deblur", "sampler": "Algorithm 2", "stride": 4, "N": 10000,
                             "precision": prec, "FID": 1.0, "eval on": "here"}
    SC.write_md(pd.DataFrame([r("twin", "bf16"), r("twin", "fp32"), r("alone", "bf16")]), tmp_path / "page")
    text = (tmp_path / "page.md").read_text()
    assert "those of `twin` have been measured again in fp32" in text
    assert "those of `alone` stand until measured again in fp32" in text


def test_training_curve_points_hold_the_committed_rows():
    """The training-length figure plots every committed MNIST Table 1-3 row (N = 10,000) with the
    table's own values, once per table, steps and column."""
    from benchmarks import training_curve as TC
    df = TC.points()
    assert not df.duplicated(["table", "train steps", "column"]).any()
    for table in (1, 2, 3):
        t = pd.read_csv(TC.TABLES / f"table{table}.csv")
        t = t[(t["dataset"] == "mnist") & (t["N"] == 10000) & t["column"].isin(["Sampled", "Direct"])]
        assert len(t) == 2
        for _, r in t.iterrows():
            got = df[(df["table"] == table) & (df["train steps"] == r["train steps"]) & (df["column"] == r["column"])]
            assert len(got) == 1 and got["FID"].item() == pytest.approx(r["FID"])
    # every point lies inside the steps axis (the 50,000-step row once fell outside a fixed 40,000)
    assert df["train steps"].max() < TC.step_axis_end(df)
    assert TC.step_axis_end(pd.DataFrame({"train steps": [3000, 10000]})) == 40000
    paper = TC.paper_values()
    assert paper[(2, "Sampled", "FID")] == pytest.approx(1.61) and paper[(3, "Direct", "SSIM")] == pytest.approx(0.823)


def test_the_hot_training_curve_holds_table5s_rows_and_its_guide_is_the_power_law_through_two_points():
    from benchmarks import training_curve as TC
    df = TC.hot_points()
    assert not df.duplicated(["variant", "train steps"]).any()
    t5 = pd.read_csv(TC.TABLES / "table5.csv")
    t5 = t5[(t5["dataset"] == "mnist") & t5["column"].str.startswith("hot: ")]
    assert len(t5) == 2
    for _, r in t5.iterrows():
        got = df[(df["variant"] == r["column"].split(": ")[1]) & (df["train steps"] == r["train steps"])]
        assert len(got) == 1 and got["FID"].item() == pytest.approx(r["FID"])
    # the 3,000-step model (constant rate) is on the curve; a model trained with the rate decayed is marked
    assert not df[df["train steps"] == 3000]["decayed"].any()
    assert df[df["model"] == "hot-mnist-28866"]["decayed"].all()
    # ... also where its weights are not shipped (named in DECAYED_UNSHIPPED); such a model has rows
    for name in TC.DECAYED_UNSHIPPED:
        assert name not in {s.name for s in pretrained.SHIPPED} and df[df["model"] == name]["decayed"].all()
        assert (df["model"] == name).any(), name
    # FID = a * steps**b through (1000, 40) and (4000, 20): b = -1/2, so FID 10 at 16,000 steps
    assert TC.power_law_steps((1000, 40.0), (4000, 20.0), 10.0) == pytest.approx(16000)
