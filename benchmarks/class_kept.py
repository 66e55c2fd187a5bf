"""Does a restorer keep the digit?  The class kept by Sampled (Algorithm 2) and Direct on MNIST.

FID rewards realistic digits, whichever digit they are (Table 1's lookup ablation,
``results/cpu/ablations/table1_deblur_mnist_lookup.md``), so a restorer of the MNIST tables is read
with a fourth number: the share of its outputs whose 1-NN label among the 60,000 training digits
(``neighbours.nearest_neighbour_labels``) is the label of the test digit they came from.  The judge
labels the originals themselves right 97.1% of the time, the ceiling.  Same images and x_T as the
table (``experiments.test_images`` and ``fully_degrade``, seeded); SSIM and RMSE beside, so that a row
can be matched with the committed table's:

    python -m benchmarks.class_kept --model deblur-mnist-18542 --n 10000

Rows are merged into ``results/cpu/ablations/class_kept_mnist.{csv,md}`` (one per model and column;
a model measured again replaces its rows).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from colddiff_lib import metrics, precision as P, pretrained
from colddiff_lib.experiments import class_check_set, class_kept, fully_degrade, test_images
from colddiff_lib.io import atomic_write_text
from colddiff_lib.paths import REPO_ROOT
from colddiff_lib.sampling import algorithm2, batched, direct
from colddiff_lib.tasks import get_task, make_degradation

OUT = REPO_ROOT / "results" / "cpu" / "ablations" / "class_kept_mnist"
KEY = ["model", "column"]


def measure(name: str, n: int, policy: str = "auto", batch_size: int = 128) -> list[dict]:
    """Sampled and Direct of the named restorer on the first ``n`` of the table's test images."""
    model, info = pretrained.load(name, channels_last=True)
    cfg = info["config"]
    if get_task(cfg.task).kind != "restoration" or cfg.dataset != "mnist":
        raise SystemExit(f"{name}: the class check needs an MNIST restorer (a {cfg.task} model on {cfg.dataset}); "
                         "pick one from `python -m colddiff_lib models`")
    prec, why = P.choose(policy, fp32_only=get_task(cfg.task).fp32_sampling)
    print(f"sampling: {why}", flush=True)
    x0, test = test_images(cfg, n)
    labels, train_x, train_labels = class_check_set(cfg, test, x0.shape[0])
    D = make_degradation(cfg, x0.shape[1])
    xT, state = fully_degrade(cfg, D, x0)                  # x_T = D(x0, T): the table's seeded state
    R = P.restorer(model, prec)
    rows = []
    for column, sampler in (("Sampled", algorithm2), ("Direct", direct)):
        t0 = time.perf_counter()
        with torch.no_grad():
            x = batched(sampler, R, D, xT, state, batch_size=batch_size)
        rows.append({"model": name, "task": cfg.task, "train steps": int(info["step"]), "column": column,
                     "N": int(x.shape[0]), "sampled in": prec, "SSIM": round(metrics.ssim(x, x0), 4),
                     "RMSE": round(metrics.rmse(x, x0), 4),
                     "class kept": round(class_kept({column: x}, labels, train_x, train_labels)[column], 4),
                     "eval s": round(time.perf_counter() - t0, 1), "eval on": P.where()})
        print(rows[-1], flush=True)
    return rows


def merge(new: list[dict], out: Path = OUT) -> pd.DataFrame:
    csv = out.with_suffix(".csv")
    old = pd.read_csv(csv) if csv.exists() else pd.DataFrame(columns=list(new[0]))
    df = pd.concat([old, pd.DataFrame(new)], ignore_index=True)
    df = df.drop_duplicates(subset=KEY, keep="last").sort_values(["task", "train steps", "column"], kind="stable")
    atomic_write_text(csv, df.to_csv(index=False))
    md = ("# The class kept by the MNIST restorers (Sampled = Algorithm 2, Direct)\n\n"
          "The share of outputs whose 1-NN label among the 60,000 training digits is the test digit's own "
          "(the originals: 0.9709, the ceiling); SSIM and RMSE on the same outputs. Made by "
          "`python -m benchmarks.class_kept --model <name> --n 10000`.\n\n"
          + df.to_markdown(index=False) + "\n")
    atomic_write_text(out.with_suffix(".md"), md)
    return df


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.class_kept", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="an MNIST restorer from `python -m colddiff_lib models`")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--precision", default="auto", choices=P.POLICIES)
    p.add_argument("--out", type=Path, default=OUT, help="output path without suffix (default: %(default)s)")
    a = p.parse_args(argv)
    if a.model not in pretrained.specs():
        p.error(f"unknown model {a.model!r}; `python -m colddiff_lib models` lists them")
    df = merge(measure(a.model, a.n, a.precision), a.out)
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
