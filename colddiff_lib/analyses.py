"""The studies beside the paper's tables, built on the runners of :mod:`colddiff_lib.experiments`:

* :func:`compare_algorithms`    Algorithm 1 vs Algorithm 2 (and Direct) on one trained model (notebook 02);
* :func:`symmetry_sensitivity`  whether perfect-symmetry blur generation collapses from a flat start (notebook 07);
* :func:`figure21_samples`      the saved Figure 21 samples of the cpu profile's Table 5 rows;
* :func:`sample_spread`         how varied those samples are (near-copies among them).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from . import metrics, neighbours, precision as P, pretrained
from .config import Config, results_root
from .data import fixed_subset
from .experiments import fitted_degradation, model_for
from .sampling import SAMPLERS, algorithm1, algorithm2, direct
from .tasks import get_task, load_data, make_degradation


def compare_algorithms(cfg: Config, n_eval: int = 64, t_start: int | None = None, force: bool = False) -> pd.DataFrame:
    """Algorithm 1 vs Algorithm 2 (and Direct) on one trained model: RMSE and SSIM vs x0."""
    model, _ = model_for(cfg, force=force)
    sub = fixed_subset(load_data(cfg, "test"), n_eval, seed=cfg.seed)
    x0 = sub.all()
    D = make_degradation(cfg, sub.channels)
    state = D.sample_state(len(sub), torch.Generator().manual_seed(cfg.seed + 1))
    t = t_start or D.T
    xt = D(x0, t, state)
    R = P.restorer(model)
    out = []
    for name, fn in (("Degraded", None), ("Direct", direct), ("Algorithm 1", algorithm1), ("Algorithm 2", algorithm2)):
        x = xt if fn is None else fn(R, D, xt, state, t_start=t)
        out.append({"method": name, "RMSE": round(metrics.rmse(x, x0), 4), "SSIM": round(metrics.ssim(x, x0), 4)})
    return pd.DataFrame(out)


def symmetry_sensitivity(name: str = "blurgen-mnist", offsets=(0.0, 0.0, 1e-6, 1e-3), seed: int = 0):
    """Perfect-symmetry blur generation from flat images whose grey levels differ by ``offsets``.

    One flat x_T is drawn from the model's GMM prior (perfect symmetry: no noise); row i starts
    from x_T + offsets[i], a flat image again, and runs Algorithm 2 like the Table 5 sampler.
    Returns ({"x_T", "sample"}, mean |sample_i - sample_0| per row, a line naming the model); raises
    CheckpointError without the weights.  Equal offsets must give equal samples (the sampler is
    deterministic); how far apart tiny offsets land says whether a flat start can collapse."""
    model, info = pretrained.load(name)
    cfg = info["config"]
    sampler_name, prior_kw = get_task(cfg.task).variant("perfect symmetry")
    D = fitted_degradation(cfg)
    x_T, state = D.prior(1, torch.Generator().manual_seed(seed), **prior_kw)
    level = float(x_T.mean())                                               # the GMM draw's grey level
    x_T = x_T + torch.tensor(offsets, dtype=x_T.dtype).view(-1, 1, 1, 1)   # still flat images
    device = next(model.parameters()).device
    with torch.no_grad():
        x = SAMPLERS[sampler_name](P.restorer(model), D, x_T.to(device), state).clamp(-1, 1).cpu()
    diff = (x - x[:1]).abs().mean(dim=(1, 2, 3))
    about = f"{name}: perfect symmetry from one GMM draw (grey level {level:+.6f}) plus offsets"
    return {"x_T": x_T, "sample": x}, diff, about


def _figure21_files(root) -> dict[str, Path]:
    """Generator -> the file of its Table 5 rows' first 400 samples: ``cpu/samples/<task>-mnist.npz``
    where the rows were re-measured on this machine with a longer-trained model (``table
    --save-samples 400``), else the GPU campaign's ``gpu/figure21-<task>.npz``."""
    found = {f.stem.split("-", 1)[1]: f for f in sorted((root / "gpu").glob("figure21-*.npz"))}
    for f in sorted((root / "cpu" / "samples").glob("*-mnist.npz")):
        found[f.stem.removesuffix("-mnist")] = f
    return dict(sorted(found.items()))


def figure21_samples(results_dir=None) -> list[tuple[str, str, torch.Tensor, float | None, int | None]]:
    """The cpu profile's saved MNIST Figure 21 samples (:func:`_figure21_files`: the first 400 of each
    N = 10,000 Table 5 row, uint8) as (generator, variant, samples in [-1, 1], the row's FID and its
    model's training steps from ``results/cpu/tables/table5.csv``, or None); empty when the files are
    not there."""
    import numpy as np
    root = results_root(results_dir)
    t5 = root / "cpu" / "tables" / "table5.csv"
    t5 = pd.read_csv(t5).set_index("column") if t5.exists() else pd.DataFrame(columns=["FID", "train steps"])
    fids, steps = t5["FID"].to_dict(), t5["train steps"].to_dict()
    out = []
    for task, f in _figure21_files(root).items():
        with np.load(f) as z:
            for key in z.files:
                variant = key.replace("_", " ")
                x = torch.from_numpy(z[key]).float() / 127.5 - 1
                col = f"{get_task(task).label}: {variant}"
                out.append((task, variant, x, fids.get(col), None if col not in steps else int(steps[col])))
    return out


def sample_spread(results_dir=None, near: float = 0.01) -> pd.DataFrame | None:
    """How varied the cpu profile's saved MNIST Table 5 samples are: the first 400 of each row, as the
    GPU campaign or ``table --save-samples`` saved them for Figure 21 (:func:`_figure21_files`, uint8).  Per variant,
    the median distance from a sample to its nearest other sample (:func:`neighbours.nearest_sample_distance`,
    mean absolute pixel difference on [0, 1]) and the share of samples with a near-copy (closer than
    ``near``).  None when no such file is there."""
    import numpy as np
    rows = []
    for task, f in _figure21_files(results_root(results_dir)).items():
        with np.load(f) as z:
            for key in z.files:
                d = neighbours.nearest_sample_distance(torch.from_numpy(z[key]))
                rows.append({"generator": task, "variant": key.replace("_", " "), "N": len(d),
                             "median nearest distance": round(float(d.median()), 4),
                             "share with a near-copy": round(float((d < near).double().mean()), 3)})
    return pd.DataFrame(rows) if rows else None
