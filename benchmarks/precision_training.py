"""Does *training* in bf16 change a result?  The same model trained on for the same steps in fp32 and
in bf16 autocast, then evaluated side by side on the table's test images.

    python -m benchmarks.precision_training --task deblur --dataset mnist \
        --from results/cpu/weights/deblur-mnist.pt --steps 4000 --n 10000 --sampling-precision fp32 \
        --scratch /tmp/prec --out results/cpu/ablations/precision_training_deblur_mnist

Both arms warm-start from the same EMA weights (``training.warm_start``: network and EMA from the
weights, Adam afresh, the data generator seeded from the step), so they see the same batches in the
same order at the same learning rate (the cpu profile's, unless ``--set lr=...``); the only
difference is the arithmetic of the forward and backward passes.  Each arm trains in its own
``<scratch>/<fp32|bf16>`` results folder and resumes there when interrupted (the same command goes
on); nothing under ``results/`` is touched but ``--out``.

Evaluation holds everything else fixed: the same ``--n`` seeded test images and x_T = D(x0, T),
Algorithm 2 (the paper's Sampled column) and Direct, both arms sampled in ``--sampling-precision``
(``auto``: bf16 where the CPU has it natively and the task's x_T survives it, fp32 for the tasks of
``tasks.Task.fp32_sampling`` such as deblurring; ``precision.choose``), FID features in fp32.  FID,
SSIM, RMSE, the class kept (1-NN label among the 60,000 training digits, as Table 1's lookup
ablation) and FID's bootstrap standard deviation per row, so that the fp32 - bf16 gap is read
against the noise of FID itself.  Writes ``<out>.csv`` and ``<out>.md`` (atomically) with the machine.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from colddiff_lib import metrics, precision as P
from colddiff_lib.__main__ import _parse_set
from colddiff_lib.config import get_config
from colddiff_lib.experiments import class_check_set, class_kept, fully_degrade, test_images
from colddiff_lib.io import atomic_write_text
from colddiff_lib.sampling import algorithm2, batched, direct
from colddiff_lib.tasks import get_task, make_degradation
from colddiff_lib.training import (export_weights, load_checkpoint, model_from_checkpoint, train, warm_start,
                                   float_weights)

ARMS = ("fp32", "bf16")


def arm_config(task: str, dataset: str, steps: int, arm: str, scratch: Path, profile: str = "cpu", **over):
    """The profile's config for one arm: the same run but for ``bf16``, in its own scratch folder."""
    return get_config(profile, task=task, dataset=dataset, train_steps=steps, bf16=(arm == "bf16"),
                      results_dir=str(scratch / arm), progress=False, **over)


def train_arm(cfg, start: Path, weights_lr: float | None = None) -> dict:
    """Warm-start ``cfg`` from ``start`` (once), train it to ``cfg.train_steps`` (resuming), export its
    EMA weights; returns what the row records: steps, seconds of this phase, the recent l1 loss."""
    w0 = load_checkpoint(start)
    if not cfg.weights_path.exists():
        if not cfg.checkpoint_path.exists():
            warm_start(cfg, start, cfg.checkpoint_path, weights_lr=weights_lr)
        ck = train(cfg)
        export_weights(ck, cfg.weights_path)
    w = load_checkpoint(cfg.weights_path, cfg)
    losses = list(w["losses"])
    return {"from step": int(w0["step"]), "train steps": int(w["step"]),
            "phase train s": round(float(w["wall_s"]) - float(w0["wall_s"]), 1),
            "l1, last 50 steps": round(sum(losses[-50:]) / max(1, len(losses[-50:])), 4)}   # the weights keep 50


def evaluate(cfgs: dict, n: int, policy: str, bootstrap: int) -> list[dict]:
    """Sampled (Algorithm 2) and Direct for each arm's exported weights, on the same images and x_T."""
    cfg0 = next(iter(cfgs.values()))
    prec, why = P.choose(policy, fp32_only=get_task(cfg0.task).fp32_sampling)
    print(f"sampling: {why}", flush=True)
    x0, test = test_images(cfg0, n)
    labels, train_x, train_labels = class_check_set(cfg0, test, x0.shape[0])
    D = make_degradation(cfg0, x0.shape[1])
    xT, state = fully_degrade(cfg0, D, x0)                       # x_T = D(x0, T), the table's seeded state
    ref = metrics.reference_features(test, x0.shape[0], seed=cfg0.seed)          # cached on disk
    rows = []
    for arm, cfg in cfgs.items():
        ck = load_checkpoint(cfg.weights_path, cfg)
        model = model_from_checkpoint({**ck, "ema": float_weights(ck["ema"])}, cfg, channels_last=True)
        R = P.restorer(model, prec)
        for column, sampler in (("Sampled", algorithm2), ("Direct", direct)):
            t0 = time.perf_counter()
            with torch.no_grad():
                x = batched(sampler, R, D, xT, state, batch_size=128)
            s = round(time.perf_counter() - t0, 1)
            f = metrics.extract_features(x)
            rows.append({"trained in": arm, "column": column, "N": x.shape[0], "sampled in": prec,
                         "FID": round(metrics.fid_from_features(f, ref), 4),
                         "FID bootstrap sd": round(metrics.fid_bootstrap_sd(f, ref, bootstrap), 4) if bootstrap else None,
                         "SSIM": round(metrics.ssim(x, x0), 4), "RMSE": round(metrics.rmse(x, x0), 4),
                         "class kept": round(class_kept({column: x}, labels, train_x, train_labels)[column], 4),
                         "sampling s": s})
            print(rows[-1], flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.precision_training", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="cpu")
    p.add_argument("--task", default="deblur")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--from", dest="start", required=True, help="EMA weights both arms start from (weights/*.pt)")
    p.add_argument("--warm-start-lr", type=float, default=None, help="the rate those weights were trained at, "
                   "when no profile uses it")
    p.add_argument("--steps", type=int, required=True, help="train both arms to this step")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides for both arms, "
                   "e.g. lr=0.0002")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--sampling-precision", choices=["auto", "fp32", "bf16"], default="auto")
    p.add_argument("--bootstrap", type=int, default=10, metavar="B")
    p.add_argument("--scratch", required=True, help="folder for the two arms' checkpoints and weights")
    p.add_argument("--out", required=True, help="output path without suffix (writes .csv and .md)")
    a = p.parse_args(argv)
    over = _parse_set(a.set)                  # the train command's --set, the same syntax and types
    if not P.native_bf16("cpu") and not torch.cuda.is_available():
        print("note: this CPU emulates bf16, so the bf16 arm trains several times slower than the fp32 arm; "
              "its numbers are still valid", flush=True)
    scratch = Path(a.scratch)
    cfgs = {arm: arm_config(a.task, a.dataset, a.steps, arm, scratch, a.profile, **over) for arm in ARMS}
    t0 = time.perf_counter()
    trained = {}
    for arm, cfg in cfgs.items():
        print(f"training the {arm} arm to step {a.steps} in {scratch / arm}", flush=True)
        trained[arm] = train_arm(cfg, Path(a.start), a.warm_start_lr)
        print(f"{arm}: {trained[arm]}", flush=True)
    rows = [{**trained[r["trained in"]], **r} for r in evaluate(cfgs, a.n, a.sampling_precision, a.bootstrap)]
    wall = time.perf_counter() - t0
    mach = P.machine()
    df = pd.DataFrame(rows).assign(model=f"{a.task}-{a.dataset}", lr=cfgs["fp32"].lr)
    df = df[["model", "from step", "train steps", "lr", "trained in", "phase train s", "l1, last 50 steps",
             "column", "N", "sampled in", "FID", "FID bootstrap sd", "SSIM", "RMSE", "class kept", "sampling s"]]
    df = df.assign(cpu=mach["cpu"], flags=mach["flags"], threads=mach["threads"])
    atomic_write_text(f"{a.out}.csv", df.to_csv(index=False))
    cmd = (f"python -m benchmarks.precision_training " + (f"--profile {a.profile} " if a.profile != "cpu" else "")
           + f"--task {a.task} --dataset {a.dataset} --from {a.start} "
           + (f"--warm-start-lr {a.warm_start_lr} " if a.warm_start_lr else "")
           + f"--steps {a.steps} " + (f"--set {' '.join(a.set)} " if a.set else "")
           + f"--n {a.n} --bootstrap {a.bootstrap} --scratch <scratch> --out {a.out}")
    md = (f"# bf16 vs fp32 training: `{a.task}-{a.dataset}`, the same steps from the same weights\n\n    {cmd}\n\n"
          f"{df.drop(columns=['cpu', 'flags', 'threads']).to_markdown(index=False)}\n\n"
          f"Measured on {mach['cpu']} ({mach['flags']}), {mach['threads']} threads; {wall:.0f} s for this command "
          "(training that an earlier, interrupted run of it did is not counted here but is in `phase train s`). "
          "FID features in fp32.\n")
    atomic_write_text(f"{a.out}.md", md)
    print(md)


if __name__ == "__main__":
    main()
