"""Does sampling in bf16 change a result?  One model's Table 1-3 evaluation with the network run in
bf16 autocast and in fp32, on the same test images, degraded states and weights, side by side.

    python -m benchmarks.precision_quality --model inpaint-mnist --n 10000 --n-sampled-fp32 1000 \
        --out results/cpu/ablations/precision_inpaint_mnist

Direct (one network call per image) and Algorithm 2 (T calls per image) run in bf16 on all ``--n``
images (the rows a table gets under the ``auto`` policy on a bf16 machine) and in fp32 on the first
``--n-sampled-fp32``, where both precisions are compared on the same images (FID features are the
slow part on a CPU: 10,000 images take about 10 minutes).  ``--n-sampled-fp32 0`` measures the bf16
rows alone: a model's Sampled and Direct rows as ``table --precision auto`` gives them on a bf16 machine.
FID features are fp32 in every row.  Writes ``<out>.csv`` and ``<out>.md`` (atomically) with the
machine; the rows measured in bf16 on all ``--n`` images are the model's table rows in that precision.
"""
from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from colddiff_lib import metrics, precision as P, pretrained
from colddiff_lib.common import slice_state
from colddiff_lib.experiments import fully_degrade, test_images
from colddiff_lib.io import atomic_write_text
from colddiff_lib.sampling import algorithm2, batched, direct
from colddiff_lib.tasks import make_degradation


def measure(name: str, n: int, n_sampled_fp32: int, n_sampled: int | None = None, bootstrap: int = 0) -> pd.DataFrame:
    model, info = pretrained.load(name, channels_last=True)
    cfg = info["config"]
    x0, test = test_images(cfg, n)
    n = x0.shape[0]
    m = min(n_sampled_fp32, n)
    ns = n if n_sampled is None else max(m, min(n_sampled, n))   # Algorithm 2 in bf16 on this many
    D = make_degradation(cfg, x0.shape[1])
    xT, state = fully_degrade(cfg, D, x0)                       # x_T = D(x0, T), the tables' seeded state
    ref = metrics.reference_features(test, n, seed=cfg.seed, progress=cfg.progress)   # x0's features, in order
    runs = [("Direct", "bf16", n), ("Sampled", "bf16", ns)] + ([("Direct", "fp32", m), ("Sampled", "fp32", m)] if m else [])
    outs, feats, rows = {}, {}, []

    def row(column, prec, x, k, s):
        f = feats[column, prec, k] = metrics.extract_features(x, progress=cfg.progress)
        rows.append({"model": name, "train steps": info["step"], "column": column, "precision": prec, "N": k,
                     "FID": round(metrics.fid_from_features(f, ref[:k]), 4), "SSIM": round(metrics.ssim(x, x0[:k]), 4),
                     "RMSE": round(metrics.rmse(x, x0[:k]), 4), "sampling s": s,
                     # how much FID moves with the draw of the k images: the noise a precision's shift is read against
                     "FID bootstrap sd": round(metrics.fid_bootstrap_sd(f, ref[:k], bootstrap), 4) if bootstrap else None})
        print(rows[-1], flush=True)

    for column, prec, k in runs:
        sampler = direct if column == "Direct" else algorithm2
        t0 = time.perf_counter()
        with torch.no_grad():
            x = batched(sampler, P.restorer(model, prec), D, xT[:k], state if k == n else slice_state(state, 0, k),
                        batch_size=128, progress=cfg.progress)
        outs[column, prec] = x
        row(column, prec, x, k, round(time.perf_counter() - t0, 1))
    mach = P.machine()
    if not m:                                            # the bf16 rows only
        return pd.DataFrame(rows).assign(cpu=mach["cpu"], flags=mach["flags"], threads=mach["threads"])
    for column, k in (("Direct", n), ("Sampled", ns)):   # bf16 on the fp32 subset: both on the same images
        if m < k:
            row(column, "bf16", outs[column, "bf16"][:m], m, None)
    for column in ("Direct", "Sampled"):
        d = (outs[column, "bf16"][:m] - outs[column, "fp32"][:m]).abs()
        print(f"{column}: bf16 vs fp32 outputs on {m} images: mean |diff| {float(d.mean()):.2e}, "
              f"max {float(d.max()):.2e} (images in [-1, 1])")
        for r in rows:
            if r["column"] == column and r["N"] == m:
                r["mean |bf16 - fp32| pixel"] = round(float(d.mean()), 5)
    # FID features themselves in bf16 autocast, on the subset (the policy keeps them fp32: this says why)
    xs = outs["Sampled", "fp32"]
    with P.autocast("bf16"):
        f16, r16 = metrics.extract_features(xs), metrics.extract_features(x0[:m])
    f32 = feats["Sampled", "fp32", m]                    # the same images' fp32 features, computed above
    rows.append({"model": name, "train steps": info["step"], "column": "Sampled (fp32), FID features in bf16",
                 "precision": "fp32", "N": m, "FID": round(metrics.fid_from_features(f16, r16), 4),
                 "SSIM": None, "RMSE": None, "sampling s": None,
                 "max feature change, share of the largest": round(float((f16 - f32).abs().max() / f32.abs().max()), 4)})
    print(rows[-1], flush=True)
    return pd.DataFrame(rows).assign(cpu=mach["cpu"], flags=mach["flags"], threads=mach["threads"])


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.precision_quality", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="inpaint-mnist", help="a name from `python -m colddiff_lib models`")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--n-sampled", type=int, default=None, help="Algorithm 2 in bf16 on this many (default --n)")
    p.add_argument("--n-sampled-fp32", type=int, default=1000, help="fp32 beside bf16 on this many (0: bf16 rows only)")
    p.add_argument("--bootstrap", type=int, default=0, metavar="B",
                   help="also FID's standard deviation over B bootstrap resamples of the images (its noise)")
    p.add_argument("--out", required=True, help="output path without suffix (writes .csv and .md)")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    df = measure(a.model, a.n, a.n_sampled_fp32, a.n_sampled, a.bootstrap)
    wall = time.perf_counter() - t0
    atomic_write_text(f"{a.out}.csv", df.to_csv(index=False))
    cmd = (f"python -m benchmarks.precision_quality --model {a.model} --n {a.n} "
           + (f"--n-sampled {a.n_sampled} " if a.n_sampled else "") + f"--n-sampled-fp32 {a.n_sampled_fp32} " + (f"--bootstrap {a.bootstrap} " if a.bootstrap else "")
           + f"--out {a.out}")
    md = (f"# bf16 vs fp32 sampling: `{a.model}`\n\n    {cmd}\n\n"
          f"{df.drop(columns=['cpu', 'flags', 'threads']).to_markdown(index=False)}\n\n"
          f"Measured on {df['cpu'].iloc[0]} ({df['flags'].iloc[0]}), {df['threads'].iloc[0]} threads, in {wall:.0f} s. "
          + ("FID features in fp32 for every row but the last, which repeats Sampled (fp32) with the features "
             "themselves in bf16 autocast.\n" if a.n_sampled_fp32 else "FID features in fp32.\n"))
    atomic_write_text(f"{a.out}.md", md)
    print(md)


if __name__ == "__main__":
    main()
