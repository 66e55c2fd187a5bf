"""The paper's experiments as library calls, so that notebooks stay short.

* :func:`restoration_rows`  one dataset of Tables 1-4: Degraded / Sampled (Algorithm 2) / Direct,
  FID / SSIM / RMSE on held-out test images;
* :func:`generation_rows`   Table 5: FID of samples generated from the fully degraded state;
* :func:`write_table`       results/<profile>/tables/tableN.{csv,md}, the paper's values beside ours;
* :func:`claims`            the paper's qualitative claims, checked on a table.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import torch

from . import metrics
from .config import Config, get_config
from .data import test_subset
from .io import atomic_write_text
from .sampling import algorithm1, algorithm2, batched, direct, estimated_noise
from .training import load_data, make_degradation, train_or_load

REFERENCE_CSV = Path(__file__).parent / "reference" / "paper_reference.csv"
PAPER_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10", "celeba": "CelebA", "afhq": "AFHQ"}
COLUMNS = ("Degraded", "Sampled", "Direct")


_YES, _NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def force_from_env() -> bool:
    """COLDDIFF_FORCE (make's FORCE): 1/true/yes/on retrain, 0/false/no/off (or unset) do not;
    anything else is refused rather than guessed."""
    v = os.environ.get("COLDDIFF_FORCE", "0").strip().lower()
    if v not in _YES + _NO:
        raise ValueError(f"COLDDIFF_FORCE={v!r} is not a yes/no value; use 1 to retrain or 0 (FORCE=1 / FORCE=0 with make)")
    return v in _YES


def paper_name(dataset: str) -> str:
    base = dataset.replace("-standin", "")
    return PAPER_NAMES.get(base, base)


def paper_reference() -> pd.DataFrame:
    """The verified values of the paper's tables; a blank means unknown (NaN), never zero."""
    return pd.read_csv(REFERENCE_CSV, dtype={"value": float})


def paper_value(table: int, dataset: str, column: str, metric: str):
    ref = paper_reference()
    hit = ref[(ref.table == table) & (ref.dataset == paper_name(dataset)) & (ref.column == column) & (ref.metric == metric)]
    return float(hit.value.iloc[0]) if len(hit) and pd.notna(hit.value.iloc[0]) else float("nan")


def _R(model):
    return lambda x, t: model(x, t)


# --------------------------------------------------------------------------------------------
# Tables 1-4 (and decolorisation)
# --------------------------------------------------------------------------------------------
def degrade_and_restore(cfg: Config, model, n: int, progress: bool | None = None, batch_size: int = 128):
    """The paper's evaluation, step by step, on ``n`` held-out test images:

    x_T = D(x0, T); Sampled = Algorithm 2 from x_T; Direct = R(x_T, T).
    Returns (x0, {"Degraded": x_T, "Sampled": ..., "Direct": ...}, the test set, D)."""
    test = load_data(cfg, "test")
    n = min(n, len(test))
    sub = test_subset(test, n, seed=cfg.seed)
    device = next(model.parameters()).device
    x0 = sub.all().to(device)
    D = make_degradation(cfg, sub.channels)
    state = _to(D.sample_state(n, torch.Generator().manual_seed(cfg.seed + 1)), device)
    xT = D(x0, D.T, state)                                         # x_T = D(x0, T)
    R = _R(model)
    outs = {"Degraded": xT,
            "Sampled": batched(algorithm2, R, D, xT, state, batch_size=batch_size, progress=progress),
            "Direct": batched(direct, R, D, xT, state, batch_size=batch_size)}
    return x0, outs, test, D


def metric_rows(cfg: Config, table: int, x0, outs: dict, test, info: dict, T: int, fid: bool = True) -> list[dict]:
    """One table row per column of ``outs``: FID (against the test originals), SSIM and RMSE,
    beside the paper's FID, with the training steps and time of the model."""
    n = x0.shape[0]
    ref = metrics.reference_features(test, n, seed=cfg.seed) if fid else None   # originals' features (cached)
    rows = []
    for col, x in outs.items():
        m = metrics.evaluate(x0, x, ref, fid=fid)
        rows.append({"table": table, "dataset": cfg.dataset, "column": col, **{k: round(v, 4) for k, v in m.items()},
                     "paper FID": paper_value(table, cfg.dataset, col, "FID"),
                     "N": n, "reference": f"{cfg.dataset} test (N={n})", "T": T,
                     "profile": cfg.profile, "train steps": info["step"], "train s": round(info["wall_s"], 1),
                     "eval s": None})
    return rows


def restoration_rows(cfg: Config, table: int, n_eval: int | None = None, keep: int = 8,
                     progress: bool | None = None) -> tuple[list[dict], dict]:
    """Train (or load) R for ``cfg`` and evaluate Degraded / Sampled / Direct on held-out images.

    Returns the table rows and a dict of example images (x0, Degraded, Sampled, Direct)."""
    model, info = train_or_load(cfg, force=force_from_env(), progress=progress)
    t0 = time.perf_counter()
    x0, outs, test, D = degrade_and_restore(cfg, model, n_eval or cfg.n_eval, progress=progress)
    rows = metric_rows(cfg, table, x0, outs, test, info, D.T)
    wall = round(time.perf_counter() - t0, 1)
    for r in rows:
        r["eval s"] = wall
    images = {"Original": x0[:keep].cpu(), **{k: v[:keep].cpu() for k, v in outs.items()}}
    return rows, images


def _to(state, device):
    if state is None:
        return None
    if isinstance(state, dict):
        return {k: v.to(device) for k, v in state.items()}
    return state.to(device)


def compare_algorithms(cfg: Config, n_eval: int = 64, t_start: int | None = None) -> pd.DataFrame:
    """Algorithm 1 vs Algorithm 2 (and Direct) on one trained model: RMSE and SSIM vs x0."""
    model, _ = train_or_load(cfg, force=force_from_env())
    sub = test_subset(load_data(cfg, "test"), n_eval, seed=cfg.seed)
    x0 = sub.all()
    D = make_degradation(cfg, sub.channels)
    state = D.sample_state(len(sub), torch.Generator().manual_seed(cfg.seed + 1))
    t = t_start or D.T
    xt = D(x0, t, state)
    R = _R(model)
    out = []
    for name, fn in (("Degraded", None), ("Direct", direct), ("Algorithm 1", algorithm1), ("Algorithm 2", algorithm2)):
        x = xt if fn is None else fn(R, D, xt, state, t_start=t)
        out.append({"method": name, "RMSE": round(metrics.rmse(x, x0), 4), "SSIM": round(metrics.ssim(x, x0), 4)})
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------------
# Table 5: generation
# --------------------------------------------------------------------------------------------
def generate(cfg: Config, n: int, variant: str, seed: int = 0, progress: bool | None = None):
    """Samples from the fully degraded state.  ``variant``: 'fixed noise' / 'estimated noise'
    (hot), 'perfect symmetry' / 'broken symmetry' (blurgen), 'sample' (inpaintgen, superresgen,
    animorph)."""
    model, info = train_or_load(cfg, force=force_from_env(), progress=progress)
    train = load_data(cfg, "train")
    D = make_degradation(cfg, train.channels)
    g = torch.Generator().manual_seed(seed)
    if cfg.task in ("blurgen", "superresgen"):
        D.fit_prior(train.all())
    kw = {}
    if cfg.task == "blurgen":
        kw["noise_std"] = 0.0 if variant == "perfect symmetry" else 0.002
    if cfg.task == "animorph":
        src = D.source
        x_T = src[torch.randint(0, src.shape[0], (n,), generator=g)]
        state = x_T.clone()
    else:
        x_T, state = D.prior(n, g, **kw)
    sampler = estimated_noise if variant == "estimated noise" else algorithm2
    x = batched(sampler, _R(model), D, x_T, state, batch_size=128, progress=progress)
    return x.clamp(-1, 1), x_T, info


def generation_rows(cfg: Config, variants, n: int | None = None, table: int = 5, reference_split: str = "train",
                    seed: int = 0) -> tuple[list[dict], dict]:
    n = n or cfg.n_generate
    ref_set = load_data(cfg, reference_split)
    ref = metrics.reference_features(ref_set, min(len(ref_set), max(n, 2)), seed=cfg.seed)
    rows, samples = [], {}
    for v in variants:
        t0 = time.perf_counter()
        x, x_T, info = generate(cfg, n, v, seed=seed)
        label = f"{'hot' if cfg.task == 'hot' else 'blur' if cfg.task == 'blurgen' else cfg.task}: {v}"
        fid = metrics.fid_from_features(metrics.extract_features(x), ref)
        rows.append({"table": table, "dataset": cfg.dataset, "column": label, "FID": round(fid, 2),
                     "paper FID": paper_value(table, cfg.dataset, label, "FID"), "N": n,
                     "reference": f"{cfg.dataset} {reference_split} (N={len(ref)})", "T": cfg.T or "published",
                     "train steps": info["step"], "train s": round(info["wall_s"], 1),
                     "eval s": round(time.perf_counter() - t0, 1)})
        samples[label] = (x, x_T)
    return rows, samples


# --------------------------------------------------------------------------------------------
# tables and claims
# --------------------------------------------------------------------------------------------
def write_table(rows, number: int | str, profile: str, title: str, results_dir: str | None = None) -> pd.DataFrame:
    """Write results/<profile>/tables/table<number>.csv and .md (atomically)."""
    from .config import REPO_ROOT
    df = pd.DataFrame(rows)
    out = (Path(results_dir) if results_dir else REPO_ROOT / "results") / profile / "tables"
    atomic_write_text(out / f"table{number}.csv", df.to_csv(index=False))
    notes = ("Stand-in datasets (`-standin`) are not the paper's datasets: their numbers are not comparable "
             "with the paper's column. A blank paper value is unknown, never zero.")
    shown = df.drop(columns=["table"], errors="ignore").astype(object).where(df.drop(columns=["table"], errors="ignore").notna(), "")
    body = shown.to_markdown(index=False) if _has_tabulate() else shown.to_string(index=False)
    md = f"# Table {number}: {title} (profile `{profile}`)\n\n{body}\n\n{notes}\n"
    atomic_write_text(out / f"table{number}.md", md)
    return df


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


def claims(df: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: do Sampled and Direct beat Degraded on FID (lower), SSIM (higher), RMSE (lower)?"""
    out = []
    for ds, g in df.groupby("dataset", sort=False):
        deg = g[g.column == "Degraded"].iloc[0]
        for col in ("Sampled", "Direct"):
            r = g[g.column == col].iloc[0]
            for m, better in (("FID", r.FID < deg.FID), ("SSIM", r.SSIM > deg.SSIM), ("RMSE", r.RMSE < deg.RMSE)):
                out.append({"dataset": ds, "claim": f"{col} beats Degraded on {m}", "holds": bool(better)})
    return pd.DataFrame(out)


CLAIMS_FILE = Path(__file__).resolve().parent.parent / "notebooks" / "smoke_claims.json"


def assert_claims_kept(c: pd.DataFrame, key: str, path: Path = CLAIMS_FILE) -> None:
    """Fail if a claim recorded as holding (in smoke_claims.json, under ``key``) no longer holds."""
    import json
    recorded = json.loads(path.read_text()).get(key, []) if path.exists() else []
    held = {(r.dataset, r.claim) for r in c.itertuples() if r.holds}
    lost = [tuple(x) for x in recorded if tuple(x) not in held]
    assert not lost, f"claims that held when the smoke results were committed no longer hold: {lost}"
    print(f"{len(recorded)} recorded claim(s) still hold")


def record_claims(c: pd.DataFrame, key: str, path: Path = CLAIMS_FILE) -> None:
    """Record the claims that hold now (run once when committing new smoke results)."""
    import json
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = [[r.dataset, r.claim] for r in c.itertuples() if r.holds]
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


def say_claims(c: pd.DataFrame) -> None:
    """Print every claim in plain words, the ones that fail included."""
    for r in c.itertuples():
        word = "holds" if r.holds else "DOES NOT HOLD at this scale"
        print(f"{r.dataset}: {r.claim}: {word}")


# --------------------------------------------------------------------------------------------
# one call per table notebook
# --------------------------------------------------------------------------------------------
def run_restoration_table(table: int, task: str, datasets, profile: str, title: str, n_eval: int | None = None,
                          **overrides) -> tuple[pd.DataFrame, dict]:
    """Everything a Tables 1-4 notebook shows: rows for each dataset, table files, an example-image
    figure per dataset and a FID plot.  Returns (table, {dataset: example images})."""
    import matplotlib.pyplot as plt
    from .plotting import image_rows, metric_bars, savefig
    rows, examples = [], {}
    for ds in datasets:
        cfg = get_config(profile, task=task, dataset=ds, **overrides)
        r, imgs = restoration_rows(cfg, table, n_eval=n_eval)
        rows += r
        examples[ds] = imgs
        fig = image_rows(imgs, title=f"{title}: {ds} (profile {profile})")
        savefig(fig, f"table{table}_{task}_{ds}_examples", profile)
        plt.close(fig)
    df = write_table(rows, table, profile, title)
    fig = metric_bars(df, f"Table {table}: {title} (profile {profile})", COLUMNS)
    savefig(fig, f"table{table}_metrics", profile)
    return df, examples


def summary(df: pd.DataFrame, cols=("FID", "SSIM", "RMSE")) -> str:
    """Rounded one-line-per-row summary (what nbval compares)."""
    lines = []
    for r in df.itertuples():
        vals = "  ".join(f"{c}={getattr(r, c):.{1 if c == 'FID' else 3}f}" for c in cols if hasattr(r, c))
        lines.append(f"{r.dataset:16s} {r.column:24s} {vals}")
    return "\n".join(lines)
