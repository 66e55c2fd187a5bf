"""Reporting: the paper's values, our tables, and the paper's claims checked on them.

* :func:`paper_value` / :func:`paper_reference`  the verified values of the paper's tables
  (``reference/paper_reference.csv``; a blank is unknown, never zero);
* :func:`write_table`   ``<results>/<profile>/tables/tableN.{csv,md}``, atomically, the paper's
  column beside ours; :func:`merge_table` adds one dataset's (or generator's) rows to it;
* :func:`claims`        the paper's qualitative claims on a restoration table (Sampled and Direct
  beat Degraded on every metric; Sampled beats Direct on FID), :func:`say_claims` in words, and
  :func:`assert_claims_kept` against the claims recorded when the results were committed;
* :func:`committed_claims` the claims on another profile's committed table (the cpu profile's MNIST
  rows, shown and asserted in the smoke notebooks that CI re-executes);
* :func:`summary`       rounded one-line-per-row text (what nbval compares).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .common import has_tabulate
from .config import Config, real_dataset, results_root
from .io import atomic_write_text
from .paths import REPO_ROOT
from .tasks import TASKS, Task

REFERENCE_CSV = Path(__file__).parent / "reference" / "paper_reference.csv"
PAPER_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "celeba": "CelebA",
               "afhq": "AFHQ"}
COLUMNS = ("Degraded", "Sampled", "Direct")
CLAIMS_FILE = REPO_ROOT / "notebooks" / "recorded_claims.json"
# restoration task -> (table number, title): read from the tasks, which own their tables
TABLES = {name: t.table for name, t in TASKS.items() if t.kind == "restoration" and t.table}


def paper_name(dataset: str) -> str:
    base = real_dataset(dataset)
    return PAPER_NAMES.get(base, base)


def paper_reference() -> pd.DataFrame:
    """The verified values of the paper's tables; a blank means unknown (NaN), never zero."""
    return pd.read_csv(REFERENCE_CSV, dtype={"value": float})


def paper_value(table: int, dataset: str, column: str, metric: str) -> float:
    ref = paper_reference()
    hit = ref[(ref.table == table) & (ref.dataset == paper_name(dataset)) & (ref.column == column) & (ref.metric == metric)]
    return float(hit.value.iloc[0]) if len(hit) and pd.notna(hit.value.iloc[0]) else float("nan")


def table_row(cfg: Config, table: int, column: str, scores: dict, *, n: int, reference: str, T, step: int,
              train_s: float, eval_s: float | None = None, precision: str = "fp32", **extra) -> dict:
    """One row of a paper table, in the one schema that restoration, generation and the GPU campaign
    write: where it goes (table, dataset, column), what was measured (``scores``: FID, and SSIM and
    RMSE where the table has them) with the paper's value of each beside, and how it was measured
    (N and the FID reference, T, the model's training steps and time, evaluation time, precision).
    ``extra`` columns follow (e.g. the campaign's device)."""
    return {"table": table, "dataset": cfg.dataset, "column": column, **scores,
            **{f"paper {m}": paper_value(table, cfg.dataset, column, m) for m in scores},
            "N": n, "reference": reference, "T": T, "profile": cfg.profile, "train steps": step,
            "train s": round(train_s, 1), "eval s": eval_s, "precision": precision, **extra}


def with_paper_values(df: pd.DataFrame, table: int, metrics=("FID", "SSIM", "RMSE")) -> pd.DataFrame:
    """``df`` with its ``paper <metric>`` columns (re)filled from the reference values, placed after
    ``paper FID``'s position: for tables written before a value was recovered."""
    df = df.copy()
    for m in metrics:
        df[f"paper {m}"] = [paper_value(table, d, c, m) for d, c in zip(df.dataset, df.column)]
    cols = [c for c in df.columns if not c.startswith("paper ")]
    at = cols.index("N") if "N" in cols else len(cols)
    return df[cols[:at] + [f"paper {m}" for m in metrics] + cols[at:]]


def write_table(rows, number: int | str, cfg: Config, title: str) -> pd.DataFrame:
    """Write ``cfg.results_path/tables/table<number>.csv`` and ``.md`` (atomically)."""
    df = pd.DataFrame(rows)
    out = cfg.results_path / "tables"
    atomic_write_text(out / f"table{number}.csv", df.to_csv(index=False))
    notes = ("Stand-in datasets (`-standin`) are not the paper's datasets: their numbers are not comparable "
             "with the paper's column. A blank paper value is unknown, never zero.")
    body_df = df.drop(columns=["table"], errors="ignore")
    shown = body_df.astype(object).where(body_df.notna(), "")
    body = shown.to_markdown(index=False) if has_tabulate() else shown.to_string(index=False)
    md = f"# Table {number}: {title} (profile `{cfg.profile}`)\n\n{body}\n\n{notes}\n"
    atomic_write_text(out / f"table{number}.md", md)
    return df


def committed_n(number: int | str, cfg: Config, dataset: str) -> int | None:
    """The largest N among ``dataset``'s rows of ``cfg``'s table ``number``, or None when it has none."""
    path = cfg.results_path / "tables" / f"table{number}.csv"
    if not path.exists():
        return None
    old = pd.read_csv(path)
    if "N" not in old:
        return None
    ns = old[old.dataset == dataset].N.dropna()
    return int(ns.max()) if len(ns) else None


class SmallerRunError(ValueError):
    """A run on fewer images than the rows it would replace (their N is the measurement's weight)."""


def merge_table(rows, number: int | str, cfg: Config, title: str, replace_larger: bool = False) -> pd.DataFrame:
    """Add ``rows`` to ``cfg``'s committed table ``number``: rows with the same (dataset, column) are
    replaced, every other row is kept.  So a table can grow one dataset or generator at a time
    (``python -m colddiff_lib table``) without rerunning the rows it already holds.

    A row measured on fewer images (N) than the row it would replace is refused unless
    ``replace_larger``: a quick N = 100 check must never overwrite the committed N = 10,000 rows."""
    new = pd.DataFrame(rows)
    path = cfg.results_path / "tables" / f"table{number}.csv"
    if path.exists() and len(new):
        old = pd.read_csv(path)
        key = ["dataset", "column"]
        if not replace_larger and "N" in old and "N" in new:
            both = old.merge(new[key + ["N"]], on=key, suffixes=("", " new"))
            smaller = both[both["N new"] < both["N"]]
            if len(smaller):
                r = smaller.iloc[0]
                raise SmallerRunError(
                    f"{path} holds the {r['dataset']} {r['column']} row at N = {int(r['N'])}; this run has "
                    f"N = {int(r['N new'])} and would replace it: write elsewhere (--set results_dir=DIR) "
                    "or pass --replace (API: replace_larger=True) to replace it")
        same = old.set_index(key).index.isin(new.set_index(key).index)
        at = int(same.argmax()) if same.any() else len(old)       # replaced rows keep their place
        kept = old[~same]
        new = pd.concat([kept.iloc[:at], new, kept.iloc[at:]], ignore_index=True)
    return write_table(new.to_dict("records"), number, cfg, title)


def claims(df: pd.DataFrame) -> pd.DataFrame:
    """The paper's claims for each dataset's rows, as the paper's own numbers state them.

    * Sampled and Direct beat Degraded on FID (lower), SSIM (higher) and RMSE (lower): true in every
      row of the paper's Tables 1-4.
    * Sampled vs Direct, per metric, in the order the paper's values for that row give (the paper has
      Direct ahead in several places: MNIST super-resolution FID 4.05 vs 4.33, SSIM and RMSE in every
      row of Tables 1 and 3). Where the paper gives no value for the row (Fashion-MNIST, Table 4),
      the claim is the paper's general one for Algorithm 2: Sampled beats Direct on FID.

    Returns (dataset, claim, holds, paper): ``paper`` quotes the paper's values behind the claim."""
    out = []
    for ds, g in df.groupby("dataset", sort=False):
        row = {c: g[g.column == c].iloc[0] for c in COLUMNS}
        table = int(g.table.iloc[0]) if "table" in g else None
        deg = row["Degraded"]
        for col in ("Sampled", "Direct"):
            r = row[col]
            for m in ("FID", "SSIM", "RMSE"):
                out.append({"dataset": ds, "claim": f"{col} beats Degraded on {m}",
                            "holds": bool(_better(m, r[m], deg[m])), "paper": "every row of the paper"})
        for m in ("FID", "SSIM", "RMSE"):
            ps, pd_ = ((paper_value(table, ds, c, m) for c in ("Sampled", "Direct")) if table is not None
                       else (float("nan"),) * 2)
            if ps == ps and pd_ == pd_ and ps != pd_:
                a, b = ("Sampled", "Direct") if _better(m, ps, pd_) else ("Direct", "Sampled")
                pa, pb = (ps, pd_) if a == "Sampled" else (pd_, ps)
                out.append({"dataset": ds, "claim": f"{a} beats {b} on {m}",
                            "holds": bool(_better(m, row[a][m], row[b][m])),
                            "paper": f"paper {m} {pa:g} vs {pb:g} ({paper_name(ds)})"})
            elif m == "FID":
                out.append({"dataset": ds, "claim": "Sampled beats Direct on FID",
                            "holds": bool(row["Sampled"].FID < row["Direct"].FID),
                            "paper": "the paper's claim for Algorithm 2 (no paper value for this row)"})
    return pd.DataFrame(out, columns=["dataset", "claim", "holds", "paper"])


def _better(metric: str, a: float, b: float) -> bool:
    """a beats b on the metric: higher SSIM, lower FID and RMSE."""
    return a > b if metric == "SSIM" else a < b


def generation_claims(df: pd.DataFrame) -> pd.DataFrame:
    """Table 5's claims per dataset: broken symmetry beats perfect symmetry (blur generation) and
    estimated noise beats fixed noise (hot diffusion), on FID (lower is better)."""
    out = []
    for ds, g in df.groupby("dataset", sort=False):
        fid = g.set_index("column").FID
        for better, worse, claim in (("blur: broken symmetry", "blur: perfect symmetry", "broken symmetry beats perfect symmetry on FID"),
                                     ("hot: estimated noise", "hot: fixed noise", "estimated noise beats fixed noise on FID")):
            if better in fid and worse in fid:
                out.append({"dataset": ds, "claim": claim, "holds": bool(fid[better] < fid[worse])})
    return pd.DataFrame(out, columns=["dataset", "claim", "holds"])


def claims_for(task: Task):
    """The claims check of a task's table: the paper's restoration claims (Tables 1-4) or Table 5's."""
    return generation_claims if task.kind == "generation" else claims


LOOKUP = "Nearest training image"


def lookup_claims(df: pd.DataFrame, dataset: str = "mnist") -> pd.DataFrame:
    """What each metric rewards, on the lookup ablation's table (columns Degraded, Sampled, Direct and
    :data:`LOOKUP`, the training image nearest to x_T: ``experiments.nearest_training_image``).  FID
    rewards realistic images; SSIM, RMSE and the class check reward the right one."""
    t = df.set_index("column")

    def better(a, b, m):                    # a beats b on metric m
        return bool(t.at[a, m] > t.at[b, m]) if m in ("SSIM", "class kept") else bool(t.at[a, m] < t.at[b, m])

    out = [(f"the nearest training image beats {c} on FID", better(LOOKUP, c, "FID")) for c in ("Sampled", "Direct")]
    out += [(f"{c} beats the nearest training image on SSIM, RMSE and class kept",
             all(better(c, LOOKUP, m) for m in ("SSIM", "RMSE", "class kept"))) for c in ("Sampled", "Direct")]
    out.append(("Direct keeps the class more often than Sampled", better("Direct", "Sampled", "class kept")))
    return pd.DataFrame([{"dataset": dataset, "claim": c, "holds": h} for c, h in out],
                        columns=["dataset", "claim", "holds"])


def committed_ablation(name: str, profile: str = "cpu", results_dir=None) -> pd.DataFrame | None:
    """A committed ablation table (``results/<profile>/ablations/<name>.csv``), or None when absent."""
    path = results_root(results_dir) / profile / "ablations" / f"{name}.csv"
    return pd.read_csv(path) if path.exists() else None


def committed_claims(table: int, profile: str = "cpu", results_dir=None):
    """A profile's committed table (e.g. the cpu profile's MNIST rows at N = 10,000) and the paper's
    claims on it (Table 5: :func:`generation_claims`): ``(table, claims)``, or None when absent."""
    path = results_root(results_dir) / profile / "tables" / f"table{table}.csv"
    if not path.exists():
        return None
    df = pd.read_csv(path)
    return df, (generation_claims(df) if int(table) == 5 else claims(df))


def claims_key(profile: str, table: int | str) -> str:
    """The key of a table's recorded claims: ``table1`` for the smoke profile, ``cpu:table1`` etc."""
    return f"table{table}" if profile == "smoke" else f"{profile}:table{table}"


def assert_claims_kept(c: pd.DataFrame, key: str, path: Path = CLAIMS_FILE, n_override: int | None = None) -> None:
    """Fail if a claim recorded as holding (in recorded_claims.json, under ``key``) no longer holds.

    The claims were recorded at the profile's N. A run at another N (a notebook's ``N_EVAL`` or
    ``N_GENERATE``, passed as ``n_override``) is another experiment: the claims that do not hold
    there are listed, not asserted."""
    recorded = json.loads(path.read_text()).get(key, []) if path.exists() else []
    held = {(r.dataset, r.claim) for r in c.itertuples() if r.holds}
    lost = [tuple(x) for x in recorded if tuple(x) not in held]
    if n_override is not None:
        print(f"N = {n_override} was set, not the profile's N at which the claims were recorded: not asserted; "
              + (f"{len(lost)} of {len(recorded)} recorded claim(s) do not hold at this N: {lost}" if lost
                 else f"all {len(recorded)} recorded claim(s) hold at this N"))
        return
    assert not lost, f"claims that held when these results were committed no longer hold: {lost}"
    failed = int((~c.holds).sum()) if len(c) else 0
    print(f"check: the {len(recorded)} claim(s) that held when these results were committed still hold"
          + (f"; the {failed} that {'does' if failed == 1 else 'do'} not hold did not hold then either "
             "(a finding at this scale, not a regression)" if failed else ""))


def record_claims(c: pd.DataFrame, key: str, path: Path = CLAIMS_FILE) -> None:
    """Record the claims that hold now (run once when committing new results of a profile)."""
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = [[r.dataset, r.claim] for r in c.itertuples() if r.holds]
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


def say_claims(c: pd.DataFrame) -> None:
    """Every claim in plain words, the failed ones included, then how many hold."""
    for r in c.itertuples():
        why = f" [{r.paper}]" if "paper" in c and isinstance(getattr(r, "paper", None), str) and r.paper.startswith("paper") else ""
        print(f"{r.dataset}: {r.claim}{why}: {'holds' if r.holds else 'does NOT hold at this scale'}")
    if len(c):
        print(f"{int(c.holds.sum())} of these {len(c)} claims hold here, {int((~c.holds).sum())} {'does' if int((~c.holds).sum()) == 1 else 'do'} not")


def summary(df: pd.DataFrame, cols=("FID", "SSIM", "RMSE")) -> str:
    """Rounded one-line-per-row summary (what nbval compares)."""
    lines = []
    for r in df.itertuples():
        vals = "  ".join(f"{c}={getattr(r, c):.{1 if c == 'FID' else 3}f}" for c in cols if hasattr(r, c))
        lines.append(f"{r.dataset:16s} {r.column:24s} {vals}")
    return "\n".join(lines)
