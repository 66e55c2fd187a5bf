"""bf16 against fp32 training (benchmarks/precision_training.py): the two arms are one run but for
the arithmetic, start from the same weights, and are scored on the same images as a literal
evaluation would score them."""
import pandas as pd
import torch

from benchmarks import precision_training as PT
from colddiff_lib import metrics
from colddiff_lib import experiments as E
from colddiff_lib.paths import REPO_ROOT
from colddiff_lib.sampling import level_batch
from colddiff_lib.tasks import make_degradation
from colddiff_lib.training import float_weights, load_checkpoint, model_from_checkpoint

START = REPO_ROOT / "results" / "smoke" / "weights" / "deblur-mnist.pt"


def test_the_arms_differ_only_in_bf16(tmp_path):
    a, b = (PT.arm_config("deblur", "mnist", 5000, arm, tmp_path) for arm in PT.ARMS)
    assert not a.bf16 and b.bf16 and a.hash != b.hash
    assert a.replace(bf16=True, results_dir=b.results_dir).hash == b.hash


def test_a_small_run_trains_both_arms_from_the_same_weights_and_scores_them_literally(tmp_path):
    step = int(load_checkpoint(START)["step"])
    out = tmp_path / "prec"
    PT.main(["--profile", "smoke", "--from", str(START), "--steps", str(step + 2), "--n", "8", "--bootstrap", "0",
             "--sampling-precision", "fp32", "--scratch", str(tmp_path / "s"), "--out", str(out)])
    df = pd.read_csv(f"{out}.csv")
    assert sorted(zip(df["trained in"], df["column"])) == sorted((a, c) for a in PT.ARMS for c in ("Sampled", "Direct"))
    assert (df["train steps"] == step + 2).all() and (df["from step"] == step).all() and (df["N"] == 8).all()
    w = {arm: load_checkpoint(PT.arm_config("deblur", "mnist", step + 2, arm, tmp_path / "s", "smoke").weights_path)
         for arm in PT.ARMS}
    for arm in PT.ARMS:                                    # both went on from the same weights
        cfg = PT.arm_config("deblur", "mnist", step + 2, arm, tmp_path / "s", "smoke")
        ck = torch.load(cfg.checkpoint_path, map_location="cpu", weights_only=False)
        assert ck["warm_start"]["from"] == str(START) and ck["warm_start"]["step"] == step
    diff = max(float((w["fp32"]["ema"][k].float() - w["bf16"]["ema"][k].float()).abs().max()) for k in w["fp32"]["ema"])
    assert 0 < diff < 0.05                                 # the arithmetic differs, the run does not
    # the fp32 arm's Direct row, scored here by hand
    cfg = PT.arm_config("deblur", "mnist", step + 2, "fp32", tmp_path / "s", "smoke")
    ck = load_checkpoint(cfg.weights_path, cfg)
    model = model_from_checkpoint({**ck, "ema": float_weights(ck["ema"])}, cfg)
    x0, _ = E.test_images(cfg, 8)
    D = make_degradation(cfg, x0.shape[1])
    xT, state = E.fully_degrade(cfg, D, x0)
    with torch.no_grad():
        x = model(xT, level_batch(D.T, xT))                # Direct: x0_hat = R(x_T, T), once
    row = df[(df["trained in"] == "fp32") & (df["column"] == "Direct")].iloc[0]
    assert abs(row["SSIM"] - metrics.ssim(x, x0)) < 1e-3 and abs(row["RMSE"] - metrics.rmse(x, x0)) < 1e-3
