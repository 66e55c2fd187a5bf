"""Fewer sampling steps (beyond the paper): quality against the number of network evaluations.

Algorithm 2 with a stride k visits the levels T, T-k, ..., 0 and takes the step
x_{s-k} = x_s - D(x0_hat, s) + D(x0_hat, s-k), one network call per visited level
(``sampling.algorithm2``); the hot sampler with estimated noise takes DDIM's strided steps
x_{s-k} = D(x0_hat, s-k; z_hat).  Stride 1 is the paper's sampler.  For one shipped model this
measures FID (against the same held-out test images as its table), and for restoration models SSIM
and RMSE, at each stride asked for, so that a laptop user can pick a point on the curve:

    python -m benchmarks.steps_curve --model inpaint-mnist-22151 --strides 5 25 --n 10000
    python -m benchmarks.steps_curve --model hot-mnist --variant "estimated noise" --strides 10 50 --n 10000

Restoration models start from x_T = D(x0, T) of the table's seeded test images; generators from the
prior's seeded x_T (seed 0), scored against the MNIST test set as Table 5 is.  Rows are merged into
``results/cpu/ablations/steps_mnist.{csv,md}`` (one row per model, sampler, stride, N and precision;
a rerun replaces its own rows), beside the model's committed table rows (the paper's sampler and
Direct) read from ``results/cpu/tables/``, and the figure ``results/cpu/figures/steps_curves_mnist.png``
is redrawn.  The network runs in ``--precision`` (``auto``: bf16 where the CPU has it natively,
``precision.choose``); FID features are fp32.
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import pandas as pd
import torch

from colddiff_lib import metrics, precision as P, pretrained
from colddiff_lib.config import get_config
from colddiff_lib.experiments import sample_from_prior, fully_degrade, test_images
from colddiff_lib.io import atomic_write_text
from colddiff_lib.paths import REPO_ROOT
from colddiff_lib.sampling import algorithm2, batched, direct
from colddiff_lib.tasks import get_task, load_data, make_degradation

OUT = REPO_ROOT / "results" / "cpu" / "ablations" / "steps_mnist"
TABLES = REPO_ROOT / "results" / "cpu" / "tables"
KEY = ["model", "sampler", "stride", "N", "precision"]


class Counted(torch.nn.Module):
    """The network, counting its calls: per chunk of images, the network evaluations a sample costs."""

    def __init__(self, model):
        super().__init__()
        self.model, self._count = model, [0]

    @property
    def calls(self) -> int:
        return self._count[0]

    def __deepcopy__(self, memo):
        # a copy (precision.restorer's channels-last one) counts into the same tally
        twin = Counted(copy.deepcopy(self.model, memo))
        twin._count = self._count
        return twin

    def forward(self, x, t):
        self._count[0] += 1
        return self.model(x, t)


def _generator_label(task, variant: str) -> str:
    """A generator's row label: its table column, marked DDIM-like for the estimated-noise sampler."""
    sampler_name, _ = task.variant(variant)
    return f"{task.label}: {variant}" + (" (DDIM-like)" if sampler_name == "estimated_noise" else "")


def _restoration(model, D, xT, state, stride, prec, batch_size):
    """Algorithm 2 with ``stride`` (0: Direct) from the table's x_T: (outputs, network calls per image)."""
    net = Counted(model)
    R = P.restorer(net, prec)
    with torch.no_grad():
        if stride == 0:
            x = batched(direct, R, D, xT, state, batch_size=batch_size)
        else:
            x = batched(algorithm2, R, D, xT, state, batch_size=batch_size, stride=stride)
    return x, net.calls // -(-xT.shape[0] // batch_size)        # calls per chunk = calls per image


def measure(name: str, strides, n: int, policy: str, variant: str | None = None, batch_size: int = 128,
            bootstrap: int = 0) -> list[dict]:
    model, info = pretrained.load(name, channels_last=True)
    cfg = info["config"]
    task = get_task(cfg.task)
    prec, why = P.choose(policy, fp32_only=task.fp32_sampling)
    print(f"{name}: {why}", flush=True)
    if task.kind == "restoration":                                # the table's images and x_T, once for every stride
        x0, test = test_images(cfg, n)
        D = make_degradation(cfg, x0.shape[1])
        xT, state = fully_degrade(cfg, D, x0)                   # x_T = D(x0, T), the table's seeded state
        ref = metrics.reference_features(test, x0.shape[0], seed=cfg.seed)          # cached by the tables
    rows = []
    for k in strides:
        t0 = time.perf_counter()
        if task.kind == "restoration":
            x, nfe = _restoration(model, D, xT, state, k, prec, batch_size)
            T = D.T
            sampler = "Direct" if k == 0 else "Algorithm 2"
        else:
            if variant is None:
                raise SystemExit(f"{name} is a generator: pass --variant, one of "
                                 f"{', '.join(v for v, _ in task.variants)}")
            if k == 0:
                raise SystemExit("stride 0 (Direct) is for restoration models; a generator's strides are >= 1")
            net = Counted(model)
            with torch.no_grad():
                x, _ = sample_from_prior(cfg, net, n, variant, seed=0, progress=False, batch_size=batch_size,
                                          precision=prec, stride=k)
            nfe, T, x0 = net.calls // -(-n // batch_size), make_degradation(cfg, 1).T, None
            test = load_data(cfg, "test")
            ref = metrics.reference_features(test, min(len(test), n), seed=cfg.seed)
            sampler = _generator_label(task, variant)
        sample_s = time.perf_counter() - t0
        f = metrics.extract_features(x)
        row = {"model": name, "task": cfg.task, "train steps": info["step"], "sampler": sampler,
               "stride": k if k else None, "T": T, "network evaluations": nfe, "N": x.shape[0], "precision": prec,
               "FID": round(metrics.fid_from_features(f, ref), 4),
               "SSIM": round(metrics.ssim(x, x0), 4) if x0 is not None else None,
               "RMSE": round(metrics.rmse(x, x0), 4) if x0 is not None else None,
               "FID bootstrap sd": round(metrics.fid_bootstrap_sd(f, ref, bootstrap), 4) if bootstrap else None,
               "sampling s": round(sample_s, 1), "eval s": round(time.perf_counter() - t0, 1),
               "source": "measured here", "eval on": P.where()}
        rows.append(row)
        print(row, flush=True)
    return rows


def committed_rows(name: str) -> list[dict]:
    """The model's rows in its committed table (the paper's sampler, and Direct), as curve points."""
    _, info = pretrained.load(name)
    cfg, task = info["config"], get_task(info["config"].task)
    num = task.table[0]
    path = TABLES / f"table{num}.csv"
    if not path.exists():
        return []
    t = pd.read_csv(path)
    t = t[(t["dataset"] == cfg.dataset) & (t["train steps"] == info["step"])]
    D = make_degradation(cfg, 1)
    out = []
    for r in t.to_dict("records"):
        if task.kind == "restoration":
            if r["column"] not in ("Sampled", "Direct"):
                continue
            sampler, stride, nfe = ("Algorithm 2", 1, D.T) if r["column"] == "Sampled" else ("Direct", None, 1)
        else:
            if not str(r["column"]).startswith(f"{task.label}: "):
                continue
            sampler = _generator_label(task, r["column"].split(": ", 1)[1])
            stride, nfe = 1, D.T
        prec = r.get("precision")
        out.append({"model": name, "task": cfg.task, "train steps": info["step"], "sampler": sampler,
                    "stride": stride, "T": D.T, "network evaluations": nfe, "N": int(r["N"]),
                    "precision": prec if isinstance(prec, str) and prec else "fp32",
                    "FID": r["FID"], "SSIM": r.get("SSIM"), "RMSE": r.get("RMSE"),
                    "sampling s": None, "eval s": r.get("eval s"), "source": f"results/cpu/tables/table{num}.csv",
                    "eval on": r.get("eval on")})
    return out


def merge(new: list[dict], out: Path = OUT) -> pd.DataFrame:
    csv = out.with_suffix(".csv")
    old = pd.read_csv(csv) if csv.exists() else pd.DataFrame(columns=list(new[0]))
    df = pd.concat([old, pd.DataFrame(new)], ignore_index=True)
    df["stride"] = df["stride"].astype("Int64")
    df = df.drop_duplicates(subset=KEY, keep="last").sort_values(["model", "sampler", "network evaluations"])
    atomic_write_text(csv, df.to_csv(index=False))
    return df


def figure_models(df: pd.DataFrame, shipped: set[str] | None = None) -> list[str]:
    """The models the figure shows: per task, the longest-trained model with at least two points on its
    curve (the one a user would pick; older models keep their rows in the table), among ``shipped``
    when given (a model whose weights left the repository, or were never shipped, keeps its rows only)."""
    if shipped is not None:
        df = df[df["model"].isin(shipped)]
    pts = df.groupby("model").agg(task=("task", "first"), steps=("train steps", "max"),
                                  points=("network evaluations", "nunique"))
    pts = pts[pts["points"] >= 2].reset_index().sort_values(["task", "steps"])
    return sorted(pts.drop_duplicates("task", keep="last")["model"])


def comparable(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that read the same as the paper's arithmetic: no bf16 row of a task whose x_T bf16 cannot hold
    (``tasks.Task.fp32_sampling``)."""
    return df[~incomparable(df)]


def incomparable(df: pd.DataFrame) -> pd.Series:
    """True for the bf16 rows of a task whose x_T bf16 cannot hold (``tasks.Task.fp32_sampling``)."""
    bad = [p == "bf16" and bool(get_task(t).fp32_sampling) for t, p in zip(df["task"], df["precision"])]
    return pd.Series(bad, index=df.index, dtype=bool)


def figure(df: pd.DataFrame):
    """FID against network evaluations, one panel per task (:func:`figure_models`).  One point per
    sampler and step count: the bf16 row where both precisions were measured (filled markers), else
    the fp32 one (hollow markers); the bf16-vs-fp32 comparison itself is in the table.  Rows that are
    not comparable (:func:`comparable`) are left out."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from colddiff_lib.plotting import savefig
    df = comparable(df[df["N"] == df["N"].max()]).copy()
    strided = figure_models(df, shipped={m.name for m in pretrained.SHIPPED})
    df = df[df["model"].isin(strided)]
    df["_fp32"] = df["precision"] != "bf16"
    df = df.sort_values("_fp32").drop_duplicates(["model", "sampler", "network evaluations"], keep="first")
    n = max(1, len(strided))
    cols = min(4, n)                                        # rows of at most four panels, readable on a page
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.8 * rows + 0.4), squeeze=False)
    for ax in axes.flat[len(strided):]:
        ax.axis("off")
    for ax, model in zip(axes.flat, strided):
        g = df[df["model"] == model]
        for i, (s, c) in enumerate(g.groupby("sampler")):
            c = c.sort_values("network evaluations")
            colour = f"C{i}"
            if s != "Direct":
                ax.plot(c["network evaluations"], c["FID"], color=colour, label=s)
            for r in c.to_dict("records"):
                ax.plot(r["network evaluations"], r["FID"], marker="s" if s == "Direct" else "o", ms=7, color=colour,
                        mfc="none" if r["_fp32"] else colour, ls="none", label=s if s == "Direct" else None)
                ax.annotate(f"{r['FID']:.2f}", (r["network evaluations"], r["FID"]), textcoords="offset points",
                            xytext=(5, 4), fontsize=7)
        ax.set_xscale("log")
        ax.margins(x=0.12, y=0.15)                          # room for the value labels at the edges
        ticks = sorted(g["network evaluations"].unique())
        ax.set_xticks(ticks, [str(int(t)) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("network evaluations per sample (log scale)")
        ax.set_ylabel(f"FID, N = {int(g['N'].max()):,} (lower is better)")
        ax.set_title(f"{model}: {g['task'].iloc[0]}, {int(g['train steps'].iloc[0]):,} training steps", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle("Fewer sampling steps on MNIST (cpu profile): FID against network evaluations per sample, "
                 "the current model of each task\n"
                 "Algorithm 2 / the DDIM-like hot sampler with a stride; the rightmost point of each line is the "
                 "paper's sampler; hollow markers: fp32, filled: bf16", fontsize=9)
    fig.tight_layout()
    path = savefig(fig, "steps_curves_mnist", get_config("cpu"))
    plt.close(fig)
    return path


def write_md(df: pd.DataFrame, out: Path = OUT):
    show = df.drop(columns=["eval on"]).astype(object)
    show = show.where(show.notna(), None)                   # blanks, not "nan"
    machines = sorted(set(str(m) for m in df["eval on"].dropna()))
    # rows sampled in bf16 of a task whose x_T bf16 cannot hold (tasks.Task.fp32_sampling): not comparable
    keys = ["model", "sampler", "stride", "N"]
    fp32 = {tuple(r) for r in df.loc[df["precision"] == "fp32", keys].astype(str).to_numpy()}
    bad = df[incomparable(df)]
    twin = [tuple(r) in fp32 for r in bad[keys].astype(str).to_numpy()]
    again = sorted({f"`{m}`" for m, tw in zip(bad["model"], twin) if tw})
    alone = sorted({f"`{m}`" for m, tw in zip(bad["model"], twin) if not tw})
    warn = ("**Not comparable:** bf16 rows of " + ", ".join(sorted(set(again) | set(alone))) + " were sampled "
            "before bf16 was found to change what these tasks' networks read (their x_T hold the image in grey-level "
            "differences finer than bf16 resolves; `precision_deblur_mnist.md`)"
            + ("; those of " + ", ".join(again) + " have been measured again in fp32, the row beside them"
               if again else "")
            + ("; those of " + ", ".join(alone) + " stand until measured again in fp32" if alone else "")
            + ". `--precision auto` picks fp32 for these tasks, and the figure leaves their bf16 points out."
            "\n\n") if len(bad) else ""
    md = ("# Fewer sampling steps: FID against network evaluations (MNIST, cpu profile)\n\n"
          "Beyond the paper. Algorithm 2 with a stride k visits T, T-k, ..., 0; stride 1 is the paper's sampler. "
          "Rows from `results/cpu/tables/` are the model's committed table rows; the others were measured by\n\n"
          "    python -m benchmarks.steps_curve --model <name> [--variant <v>] --strides <k ...> --n 10000\n\n"
          f"{show.to_markdown(index=False, missingval='-')}\n\n" + warn +
          "Measured on: " + "; ".join(machines) + ". FID features in fp32.\n")
    atomic_write_text(out.with_suffix(".md"), md)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.steps_curve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a name from `python -m colddiff_lib models`")
    p.add_argument("--strides", type=int, nargs="+", help="strides k >= 1 (0: Direct, restoration only)")
    p.add_argument("--variant", default=None, help="a generator's variant, e.g. 'estimated noise'")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--precision", default="auto", choices=P.POLICIES)
    p.add_argument("--bootstrap", type=int, default=0, metavar="B",
                   help="also the standard deviation of FID over B bootstrap resamples of the images")
    p.add_argument("--out", type=Path, default=OUT, help="output path without suffix (default: %(default)s)")
    p.add_argument("--no-figure", action="store_true", help="write the table only")
    p.add_argument("--redraw", action="store_true", help="measure nothing: rewrite the page and figure from the CSV")
    a = p.parse_args(argv)
    if a.redraw:
        df = pd.read_csv(a.out.with_suffix(".csv"))
        write_md(df, a.out)
        print(figure(df))
        return
    if not a.model or not a.strides:
        p.error("--model and --strides are needed (or --redraw)")
    if any(k < 0 for k in a.strides):
        raise SystemExit(f"--strides must be >= 0 (0: Direct), got {a.strides}")
    rows = measure(a.model, a.strides, a.n, a.precision, a.variant, bootstrap=a.bootstrap) + committed_rows(a.model)
    df = merge(rows, a.out)
    write_md(df, a.out)
    if not a.no_figure:
        print(figure(df))


if __name__ == "__main__":
    main()
