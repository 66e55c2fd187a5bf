"""The cpu profile's Table 1-3 figures, redrawn from the committed tables and the shipped models.

For each of Tables 1-3 it writes ``results/cpu/figures/table<N>_metrics.png`` (and ``.pdf``): FID / SSIM /
RMSE bars of the committed ``results/cpu/tables/table<N>.csv``, the paper's value as a black tick, and a
title that says which of the paper's claims hold on the MNIST rows and how far our FIDs are from the
paper's; and ``table<N>_<task>_mnist_examples.png``: the table's MNIST model (the one whose row the table
holds) on the first 8 held-out test digits, original / x_T / Algorithm 2 / Direct.

What a person saw in an examples figure, looking at it enlarged, is kept in
``results/cpu/figures/looked_at.json`` (``{figure: {"model": ..., "seen": ...}}``) and goes on the figure's
title only while that model is the one drawn: a new model drops the old line until someone looks again
and records what they saw (``--seen``).  Sampling 8 digits per model takes seconds; nothing is measured:

    python -m benchmarks.table_figures                      # Tables 1-3
    python -m benchmarks.table_figures --tables 3 --seen "7 of 8 keep their class: ..."
"""
from __future__ import annotations

import argparse
import json

import pandas as pd

from colddiff_lib import experiments, pretrained, reporting
from colddiff_lib.config import get_config
from colddiff_lib.io import atomic_write_text
from colddiff_lib.paths import REPO_ROOT
from colddiff_lib.tasks import get_task

TABLES_DIR = REPO_ROOT / "results" / "cpu" / "tables"
LOOKED_AT = REPO_ROOT / "results" / "cpu" / "figures" / "looked_at.json"
WHAT = dict(experiments.HEADLINE)              # task -> "deblurring (Table 1)", one place
TASKS = {get_task(task).table[0]: task for task in WHAT}   # table number -> task: 1 deblur, 2 inpaint, 3 superres
SAMPLER = {"Sampled": "Algorithm 2", "Direct": "Direct"}


def _capital(s: str) -> str:
    return s[0].upper() + s[1:]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def claims_line(df: pd.DataFrame, dataset: str = "mnist") -> str:
    """The paper's claims on ``dataset``'s rows in words (``reporting.claims``): what holds and what
    does not, e.g. "Holds: both beat Degraded on every metric; Direct ahead on SSIM and RMSE, as in the
    paper. Does not hold: the paper's Direct ahead on FID (here Algorithm 2 is)"."""
    c = reporting.claims(df)
    c = c[c["dataset"] == dataset]
    held, failed = [], []
    vs_degraded = c[c["claim"].str.contains("beats Degraded")]
    if len(vs_degraded) and vs_degraded["holds"].all():
        held.append("both beat Degraded on every metric")
    else:
        for claim in vs_degraded.loc[~vs_degraded["holds"], "claim"]:
            failed.append(claim.replace("Sampled", "Algorithm 2"))
    order = c[~c["claim"].str.contains("beats Degraded")]
    wins: dict[str, list[str]] = {}                 # winner -> metrics, for the claims that hold
    for claim, holds in zip(order["claim"], order["holds"]):
        winner, rest = claim.split(" beats ", 1)
        loser, metric = rest.split(" on ", 1)
        if holds:
            wins.setdefault(SAMPLER[winner], []).append(metric)
        else:
            failed.append(f"the paper's {SAMPLER[winner]} ahead on {metric} (here {SAMPLER[loser]} is)")
    if wins:
        held.append(", ".join(f"{w} ahead on {_and(m)}" for w, m in wins.items()) + ", as in the paper")
    out = [f"Holds: {'; '.join(held)}" if held else "Holds: none of the paper's claims"]
    if failed:
        out.append(f"Does not hold: {'; '.join(failed)}")
    return ". ".join(out)


def fid_line(df: pd.DataFrame, dataset: str = "mnist") -> str:
    """Our Sampled and Direct FIDs against the paper's, in words."""
    rows = df[(df["dataset"] == dataset) & df["column"].isin(list(SAMPLER))].set_index("column")
    if rows["paper FID"].isna().any():
        return ""
    ratio = rows["FID"] / rows["paper FID"]
    if (ratio <= 1).all():
        return (f"Both FIDs at or below the paper's ({rows.loc['Sampled', 'FID']:.2f} and "
                f"{rows.loc['Direct', 'FID']:.2f} against {rows.loc['Sampled', 'paper FID']:g} and "
                f"{rows.loc['Direct', 'paper FID']:g})")
    return f"Our FIDs are {ratio['Sampled']:.1f}x and {ratio['Direct']:.1f}x the paper's"


def metrics_title(number: int, df: pd.DataFrame) -> str:
    task = TASKS[number]
    models = {pretrained.get_spec(n).dataset: n for n in pretrained.cpu_models(task)}   # MNIST's, then Fashion-MNIST's
    parts = []
    for ds, name in models.items():
        rows = df[df["dataset"] == ds]
        if len(rows):
            parts.append(f"{reporting.paper_name(ds)}: {name}, {int(rows['train steps'].iloc[0]):,} steps")
    for ds, rows in df[~df["dataset"].isin(models)].groupby("dataset", sort=False):   # a row whose model is not shipped
        parts.append(f"{reporting.paper_name(ds)}: {int(rows['train steps'].iloc[0]):,} steps, weights not shipped")
    what = _capital(WHAT[task].split(" (")[0])
    claims = ". ".join(s for s in (claims_line(df), fid_line(df)) if s)
    return f"Table {number}: {what}, the cpu profile's real-data models ({'; '.join(parts)})\n{claims}"


def looked_at() -> dict:
    return json.loads(LOOKED_AT.read_text()) if LOOKED_AT.exists() else {}


def examples_title(number: int, name: str, about: str, df: pd.DataFrame, figure: str) -> str:
    what = WHAT[TASKS[number]]
    rows = df[df["dataset"] == "mnist"].set_index("column")
    paper = ", ".join(f"{c} {rows.loc[c, 'paper FID']:g}" for c in SAMPLER if pd.notna(rows.loc[c, "paper FID"]))
    title = f"{_capital(what)}: MNIST, 8 held-out test digits\n({about}" + (f"; the paper: {paper})" if paper else ")")
    seen = looked_at().get(figure, {})
    return title + (f"\n{seen['seen']}" if seen.get("model") == name else "")


def draw(number: int, seen: str | None = None) -> list:
    from colddiff_lib.plotting import image_rows, metric_bars, savefig
    run = get_config("cpu")
    df = pd.read_csv(TABLES_DIR / f"table{number}.csv")
    out = [savefig(metric_bars(df, metrics_title(number, df)), f"table{number}_metrics", run)]
    name = pretrained.cpu_models(TASKS[number])[0]            # the MNIST model of the table's row
    figure = f"table{number}_{TASKS[number]}_mnist_examples"
    if seen is not None:                                      # record what was seen, for this model
        notes = looked_at()
        notes[figure] = {"model": name, "seen": seen}
        atomic_write_text(LOOKED_AT, json.dumps(notes, indent=1, sort_keys=True) + "\n")
    imgs, about = experiments.pretrained_examples(name)
    out.append(savefig(image_rows(imgs, title=examples_title(number, name, about, df, figure)), figure, run))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", type=int, nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--seen", help="what you saw in the examples figure of the one table given, looking at it "
                                  "enlarged (kept in results/cpu/figures/looked_at.json for its model)")
    a = p.parse_args(argv)
    if a.seen is not None and len(a.tables) != 1:
        p.error("--seen belongs to one figure: give one table, e.g. --tables 3 --seen '...'")
    for n in a.tables:
        for path in draw(n, a.seen):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
