"""Training length against quality for the cpu profile's MNIST restorers (Tables 1-3), at N = 10,000.

Every row measured on all 10,000 MNIST test images so far, wherever it ran: the training-length
ablations (``results/cpu/ablations/tables12_mnist_training_length_n10000.csv``,
``table2_inpaint_mnist_training_length.csv`` and ``table3_superres_mnist_training_length_n10000.csv``) and the committed MNIST rows of
``results/cpu/tables/table1-3.csv``.  One figure, ``results/cpu/figures/training_length_mnist.png``:
a row per table, FID / SSIM / RMSE against training steps (log scale) for Algorithm 2 (Sampled) and
Direct, the paper's value of each as a dashed line, so that a reader sees how far each model is and
which way it is heading.  Nothing is measured here; it reads and draws:

    python -m benchmarks.training_curve
"""
from __future__ import annotations

import argparse

import pandas as pd

from colddiff_lib.config import get_config
from colddiff_lib.paths import REPO_ROOT

ABL = REPO_ROOT / "results" / "cpu" / "ablations"
TABLES = REPO_ROOT / "results" / "cpu" / "tables"
# file -> the table its rows belong to, where the file has no ``table`` column
SOURCES = {ABL / "tables12_mnist_training_length_n10000.csv": None, ABL / "table2_inpaint_mnist_training_length.csv": 2,
           ABL / "table3_superres_mnist_training_length_n10000.csv": None}
TASKS = {1: "deblurring", 2: "inpainting", 3: "8x super-resolution"}
METRICS = ("FID", "SSIM", "RMSE")
COLUMNS = {"Sampled": "tab:blue", "Direct": "tab:orange"}
STEP_TICKS = [3000, 5000, 10000, 20000, 40000]
# rows of another training recipe than their table's line (drawn as open markers, not joined to it):
# (table, train steps) -> what differs
OFF_LINE = {(1, 8800): "8800 steps, bf16 (not comparable)"}


def committed(table: int) -> pd.DataFrame:
    """The committed MNIST rows of ``results/cpu/tables/table<table>.csv``."""
    df = pd.read_csv(TABLES / f"table{table}.csv")
    return df[df["dataset"] == "mnist"].assign(table=table)


def paper_values() -> dict:
    """(table, column, metric) -> the paper's MNIST value, from the committed tables' paper columns."""
    out = {}
    for table in TASKS:
        for _, r in committed(table).iterrows():
            for m in METRICS:
                v = r.get(f"paper {m}")
                if pd.notna(v):
                    out[(table, r["column"], m)] = float(v)
    return out


def points() -> pd.DataFrame:
    """Every N = 10,000 MNIST row of Tables 1-3: table, train steps, column, FID, SSIM, RMSE (one per
    table, steps and column; the committed table wins where both hold one)."""
    frames = []
    for p, table in SOURCES.items():
        df = pd.read_csv(p)
        if table is not None:
            df = df.assign(table=table)
        frames.append(df[["table", "train steps", "column", *METRICS, "N"]])
    for table in TASKS:
        frames.append(committed(table)[["table", "train steps", "column", *METRICS, "N"]])
    df = pd.concat(frames, ignore_index=True)
    df = df[(df["N"] == 10000) & df["column"].isin(list(COLUMNS))]
    df = df.drop_duplicates(["table", "train steps", "column"], keep="last")
    return df.sort_values(["table", "column", "train steps"]).reset_index(drop=True)


def figure(df: pd.DataFrame, paper: dict):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    fig, axes = plt.subplots(len(TASKS), len(METRICS), figsize=(11, 8.2), squeeze=False)
    for i, (table, what) in enumerate(TASKS.items()):
        for j, m in enumerate(METRICS):
            ax = axes[i][j]
            for col, colour in COLUMNS.items():
                d = df[(df["table"] == table) & (df["column"] == col)]
                off = [(table, s) in OFF_LINE for s in d["train steps"]]
                on, other = d[[not o for o in off]], d[off]
                ax.plot(on["train steps"], on[m], "o-", color=colour, label=f"{col} (ours)")
                if len(other):
                    ax.plot(other["train steps"], other[m], "o", mfc="none", color=colour, ms=8,
                            label=f"{col}, {OFF_LINE[(table, int(other['train steps'].iloc[0]))]}")
                if (table, col, m) in paper:
                    ax.axhline(paper[(table, col, m)], color=colour, ls="--", lw=1, label=f"{col} (paper, 700k steps)")
            ax.set_xscale("log")
            ax.set_xlim(2500, 40000)
            ax.xaxis.set_major_locator(FixedLocator(STEP_TICKS))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
            if m == "FID":
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(v)[0] in "1235" else ""))
            ax.set_title(f"Table {table}, {what}: {m}" + (" (lower is better)" if m != "SSIM" else " (higher is better)"),
                         fontsize=9)
            ax.set_xlabel("training steps (batch 32)", fontsize=8)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3, which="both")
            if j == 0:
                ax.legend(fontsize=6.5)
    fig.suptitle("MNIST restorers of the cpu profile (1.8M-parameter U-Net): quality against training length, "
                 "N = 10,000 test digits\nAlgorithm 2 (Sampled) still improves on every metric with more steps; Direct's "
                 "deblurring FID has flattened. Dashed: the paper (56.6M parameters, 700k steps)\n"
                 "Open markers: deblurring continued in bf16 and sampled in bf16, which rounds away what x_T holds (not comparable)", fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None):
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    from colddiff_lib.plotting import savefig
    df = points()
    fig = figure(df, paper_values())
    path = savefig(fig, "training_length_mnist", get_config("cpu"))
    print(df.to_string(index=False))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
