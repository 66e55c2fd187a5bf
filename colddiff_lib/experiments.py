"""The paper's experiments as library calls (running them; reporting is :mod:`colddiff_lib.reporting`).

* :func:`degrade_and_restore`  the evaluation of Tables 1-4 step by step: x_T = D(x0, T), then
  Sampled (Algorithm 2) and Direct (one application of R) on held-out test images;
* :func:`metric_rows`          FID / SSIM / RMSE of each column, beside the paper's FID;
* :func:`restoration_rows`     both, for one dataset of a table;
* :func:`pretrained_examples`  the same steps with a shipped model (the cpu profile's MNIST models);
* :func:`generate`, :func:`generation_rows`  Table 5: samples from the fully degraded state and their FID;
* :func:`pretrained_samples`   the same with a shipped generation model (the cpu profile's MNIST models).

The studies beside the tables (Algorithm 1 vs 2, the symmetry of blur generation, how varied the
samples are) are in :mod:`colddiff_lib.analyses`.

Every function that needs a trained network takes ``force`` (retrain from scratch).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from . import metrics, neighbours, precision as P, pretrained
from .common import check_count, progress_flag, state_to, to_uint8
from .config import Config
from .data import DataError, fixed_subset
from .io import atomic_write
from .reporting import LOOKUP, table_row
from .sampling import SAMPLERS, algorithm2, batched, direct
from .tasks import get_task, load_data, make_degradation
from .training import export_missing_weights, train_or_load


# --------------------------------------------------------------------------------------------
# Tables 1-4 (and decolorisation)
# --------------------------------------------------------------------------------------------
def test_images(cfg: Config, n: int):
    """A fixed, seeded subset of ``n`` held-out test images (all of them if n is larger, as for a
    small stand-in at the profile's default n): (x0, test set).  ``n`` must be positive."""
    check_count(n, "n")
    test = load_data(cfg, "test")
    return fixed_subset(test, min(n, len(test)), seed=cfg.seed).all(), test


def requested_count(cfg: Config, n: int | None, split: str = "test", default: int | None = None) -> int:
    """The number of images a user asked for (CLI --n, a notebook's N_EVAL / N_GENERATE): None is the
    profile's default; anything else must be positive and at most the split's size."""
    if n is None:
        return cfg.n_eval if default is None else default
    check_count(n, "n")
    try:
        size = len(load_data(cfg, split))
    except DataError:                      # not installed: the run itself says so, with the fix
        return n
    return check_count(n, "n", at_most=size)


def fully_degrade(cfg: Config, D, x0: torch.Tensor):
    """x_T = D(x0, T), with the per-image randomness (masks, snow) seeded from the config: (x_T, state)."""
    state = state_to(D.sample_state(x0.shape[0], torch.Generator().manual_seed(cfg.seed + 1)), x0.device)
    return D(x0, D.T, state), state


def degrade_and_restore(cfg: Config, model, n: int, progress: bool | None = None, batch_size: int = 128,
                        precision: str = "fp32"):
    """The paper's evaluation, step by step, on ``n`` held-out test images:

    x_T = D(x0, T); Sampled = Algorithm 2 from x_T; Direct = R(x_T, T), the network run in
    ``precision`` ("fp32", or "bf16" autocast: :func:`precision.choose` decides per machine).
    Returns (x0, {"Degraded": x_T, "Sampled": ..., "Direct": ...}, the test set, D)."""
    progress = progress_flag(progress, cfg)
    device = next(model.parameters()).device
    x0, test = test_images(cfg, n)
    x0 = x0.to(device)
    D = make_degradation(cfg, x0.shape[1])
    xT, state = fully_degrade(cfg, D, x0)                          # x_T = D(x0, T)
    R = P.restorer(model, precision)                               # x0_hat = R(x_s, s)
    outs = {"Degraded": xT,
            "Sampled": batched(algorithm2, R, D, xT, state, batch_size=batch_size, progress=progress),
            "Direct": batched(direct, R, D, xT, state, batch_size=batch_size)}
    return x0, outs, test, D


def pretrained_examples(name: str, n: int = 8, lookup: bool = False):
    """A shipped model (e.g. the cpu profile's ``deblur-mnist``) on ``n`` held-out test images, by the
    steps of :func:`degrade_and_restore`: ({"Original", "Degraded", "Sampled", "Direct"}, a line saying
    which model and its measured row).  Raises CheckpointError without its weights and DataError
    without its dataset (:func:`pretrained.unavailable` says which beforehand; Fashion-MNIST is
    optional: ``make fashion-mnist``).  ``lookup``: add the row "Nearest training image"
    (:func:`nearest_training_image`, no network), for a deterministic degradation."""
    model, info = pretrained.load(name)
    x0, outs, _, D = degrade_and_restore(info["config"], model, n, progress=False)
    if lookup:
        train = load_data(info["config"], "train").all()
        outs[LOOKUP] = nearest_training_image(D, outs["Degraded"], train)[0]
    m = info["metrics"]
    about = (f"{name}: profile {info['config'].profile}, {info['step']} training steps"
             + (f", Sampled FID {m['Sampled FID']:.1f} at N = {m['N']}" if "Sampled FID" in m else ""))
    return {"Original": x0, **outs}, about


HEADLINE = (("deblur", "deblurring (Table 1)"), ("inpaint", "inpainting (Table 2)"),
            ("superres", "8x super-resolution (Table 3)"))


def headline_models() -> tuple[tuple[str, str], ...]:
    """(model, what it does) for the headline figure: per task of :data:`HEADLINE`, the MNIST model
    whose row the committed table holds (:func:`pretrained.cpu_models`), so that the figure
    and the results table beside it show the same model."""
    return tuple((pretrained.cpu_models(task)[0], what) for task, what in HEADLINE)


def headline_panels(n: int = 6, models=None) -> dict:
    """The README's headline figure: each shipped real-data model on the same ``n`` held-out test
    images, {block title: {original, x_T, Algorithm 2, Direct}} for :func:`plotting.restoration_panels`."""
    panels = {}
    for name, what in (models or headline_models()):
        rows, about = pretrained_examples(name, n=n)
        fid = about.split(", ")[-1] if "Sampled FID" in about else "not yet measured"
        panels[f"{what}: {fid}"] = {"original": rows["Original"], "x_T = D(x0, T)": rows["Degraded"],
                                   "Algorithm 2": rows["Sampled"], "Direct R(x_T, T)": rows["Direct"]}
    return panels


def nearest_training_image(D, x_t: torch.Tensor, train_x0: torch.Tensor, t: int | None = None,
                           chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """A restorer with no network, only a memory of the training set: for each x_t, the training
    image x0' whose D(x0', t) is nearest to x_t (Euclidean, in float64).  Returns (x0', its index).

    What a network that had memorised its training set would return from x_t, whatever the test
    image was: real, sharp digits, right only as far as x_t tells them apart.  Beside the tables'
    columns it shows what FID rewards (realistic images) apart from what SSIM, RMSE and the class
    check reward (the right image).  Deterministic degradations only (blur, super-resolution)."""
    if D.stochastic:
        raise TypeError(f"nearest_training_image needs a deterministic degradation (blur, super-resolution); "
                        f"{D.name} draws a random state per image, so D(x0', t) differs per test image")
    t = D.T if t is None else t
    train_xt = torch.cat([D(b, t) for b in train_x0.split(chunk)]).double()   # D(x0', t), once
    idx = neighbours.nearest_indices(x_t.double(), train_xt, k=1, chunk=chunk)[:, 0]
    return train_x0[idx], idx


def class_kept(outs: dict, labels: torch.Tensor, ref: torch.Tensor, ref_labels: torch.Tensor) -> dict:
    """Per column of ``outs``, the share of images whose 1-NN label among ``ref`` (the training digits;
    :func:`neighbours.nearest_neighbour_labels`) is the label of the test image they came from."""
    return {col: float((neighbours.nearest_neighbour_labels(x, ref, ref_labels) == labels.to(x.device)).double().mean())
            for col, x in outs.items()}


def class_check_set(cfg: Config, test, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What :func:`class_kept` needs for the table's first ``n`` test images (:func:`test_images`):
    their labels, and the training images with theirs (the 1-NN judge's reference)."""
    train = load_data(cfg, "train")
    return fixed_subset(test, n, seed=cfg.seed).labels, train.all(), train.labels


def metric_rows(cfg: Config, table: int, x0, outs: dict, test, info: dict, T: int, fid: bool = True,
                precision: str = "fp32") -> list[dict]:
    """One table row per column of ``outs``: FID (against the test originals), SSIM and RMSE,
    beside the paper's FID, SSIM and RMSE, with the training steps and time of the model and the
    precision the network was sampled in."""
    n = x0.shape[0]
    ref = metrics.reference_features(test, n, seed=cfg.seed, progress=cfg.progress) if fid else None  # (cached)
    rows = []
    for col, x in outs.items():
        m = metrics.evaluate(x0, x, ref, fid=fid, progress=cfg.progress)
        rows.append(table_row(cfg, table, col, {k: round(v, 4) for k, v in m.items()}, n=n,
                              reference=f"{cfg.dataset} test (N={n}; {test.source})", T=T, step=info["step"],
                              train_s=info["wall_s"], precision=precision))
    return rows


def model_for(cfg: Config, force: bool = False, progress: bool | None = None):
    """R for a table run: :func:`training.train_or_load`, then the explicit export of its weights
    file where none exists yet (so that ``restore --model`` finds a model the table trained)."""
    model, info = train_or_load(cfg, force=force, progress=progress)
    export_missing_weights(cfg)
    return model, info


def restoration_rows(cfg: Config, table: int, n_eval: int | None = None, keep: int = 8,
                     progress: bool | None = None, force: bool = False,
                     precision: str = "fp32") -> tuple[list[dict], dict]:
    """Train (or load) R for ``cfg`` and evaluate Degraded / Sampled / Direct on held-out images,
    the network sampled in ``precision`` (recorded in every row).

    Returns the table rows and a dict of example images (x0, Degraded, Sampled, Direct)."""
    model, info = model_for(cfg, force=force, progress=progress)
    t0 = time.perf_counter()
    x0, outs, test, D = degrade_and_restore(cfg, model, requested_count(cfg, n_eval), progress=progress,
                                            precision=precision)
    rows = metric_rows(cfg, table, x0, outs, test, info, D.T, precision=precision)
    wall = round(time.perf_counter() - t0, 1)
    for r in rows:
        r["eval s"] = wall
    images = {"Original": x0[:keep].cpu(), **{k: v[:keep].cpu() for k, v in outs.items()}}
    return rows, images


# --------------------------------------------------------------------------------------------
# Table 5: generation
# --------------------------------------------------------------------------------------------
_PRIORS: dict = {}                       # (config hash, data root) -> D with its fitted prior


def fitted_degradation(cfg: Config):
    """D of a generation config with its prior fitted on the training set (e.g. the GMM of blurred
    means), once per process for each D and training set: loading MNIST and blurring its 60,000
    images takes ~15 s, and a notebook draws several variants from the same prior.  The key is the
    config hash (which covers D and the data, not progress bars, N or output folders) and the data
    root.  The fit is deterministic, so a cached D gives the same x_T as a fresh one
    (tests/test_generation.py checks)."""
    key = (cfg.hash, cfg.data_root)
    if key not in _PRIORS:
        train = load_data(cfg, "train")
        D = make_degradation(cfg, train.channels)
        D.fit_prior(train.all())
        if len(_PRIORS) >= 4:                # a few priors at a time: each holds its fitted mixture
            _PRIORS.pop(next(iter(_PRIORS)))
        _PRIORS[key] = D
    return _PRIORS[key]


fitted_degradation.cache_clear = _PRIORS.clear


def sample_from_prior(cfg: Config, model, n: int, variant: str, seed: int = 0, progress: bool | None = None,
                       batch_size: int = 128, precision: str = "fp32", stride: int = 1):
    """x_T drawn from the task's prior (fitted on the training set), then the variant's sampler: (x, x_T).
    ``stride=k`` visits every k-th level (beyond the paper; 1 is the paper's sampler)."""
    sampler_name, prior_kw = get_task(cfg.task).variant(variant)
    progress = progress_flag(progress, cfg)
    D = fitted_degradation(cfg)
    x_T, state = D.prior(n, torch.Generator().manual_seed(seed), **prior_kw)
    device = next(model.parameters()).device                      # the prior is drawn on the CPU
    x_T, state = x_T.to(device), state_to(state, device)
    x = batched(SAMPLERS[sampler_name], P.restorer(model, precision), D, x_T, state, batch_size=batch_size,
                progress=progress, stride=stride)
    return x.clamp(-1, 1), x_T


def generate(cfg: Config, n: int, variant: str, seed: int = 0, progress: bool | None = None, force: bool = False,
             batch_size: int = 128, precision: str = "fp32"):
    """Samples from the fully degraded state with one of the task's generation variants
    (``tasks.TASKS[task].variants``: 'fixed noise' / 'estimated noise' for hot, 'perfect symmetry' /
    'broken symmetry' for blurgen, 'sample' for inpaintgen, superresgen and animorph).  ``batch_size``:
    images per sampler call (larger on a GPU)."""
    get_task(cfg.task).variant(variant)                           # an unknown variant fails before training
    model, info = model_for(cfg, force=force, progress=progress)
    x, x_T = sample_from_prior(cfg, model, n, variant, seed, progress, batch_size=batch_size, precision=precision)
    return x, x_T, info


def pretrained_samples(name: str, variant: str, n: int = 8, seed: int = 0):
    """A shipped generation model (e.g. the cpu profile's ``blurgen-mnist``): ({"x_T", "sample"}, a line
    saying which model and its measured Table 5 FID).  Raises CheckpointError without its weights."""
    model, info = pretrained.load(name)
    x, x_T = sample_from_prior(info["config"], model, n, variant, seed, progress=False)
    m = info["metrics"]
    about = (f"{name}: {variant}, profile {info['config'].profile}, {info['step']} training steps"
             + (f", FID {m[variant + ' FID']:.1f} at N = {m['N']}" if f"{variant} FID" in m else ""))
    return {"x_T": x_T, "sample": x}, about


def sample_arrays(samples: dict, k: int) -> dict:
    """{variant key (``fixed_noise``): the first ``k`` samples as uint8} from :func:`generation_rows`'
    ``{"<label>: <variant>": (x, x_T)}``: the layout of the Figure 21 files."""
    return {label.split(": ", 1)[1].replace(" ", "_"): to_uint8(x[:k]).cpu().numpy()
            for label, (x, _) in samples.items()}


def save_samples(cfg: Config, samples: dict, k: int) -> Path:
    """The first ``k`` samples of each variant of :func:`generation_rows` as uint8 arrays, one per
    variant named as in the Figure 21 files (``fixed_noise``), written atomically to
    ``results/<profile>/samples/<task>-<dataset>.npz``.  Variants already in that file and not in
    ``samples`` are kept, so variants run separately end in one file."""
    import numpy as np
    k = check_count(k, "k", what="samples")
    path = cfg.results_path / "samples" / f"{cfg.task}-{cfg.dataset}.npz"
    arrays = {}
    if path.exists():
        with np.load(path) as z:
            arrays = {key: z[key] for key in z.files}
    arrays.update(sample_arrays(samples, k))
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
    return path


def generation_rows(cfg: Config, variants, n: int | None = None, table: int = 5, reference_split: str = "train",
                    seed: int = 0, force: bool = False, precision: str = "fp32") -> tuple[list[dict], dict]:
    n = cfg.n_generate if n is None else check_count(n, "n", what="samples")
    ref_set = load_data(cfg, reference_split)
    ref = metrics.reference_features(ref_set, min(len(ref_set), max(n, 2)), seed=cfg.seed)
    rows, samples = [], {}
    for i, v in enumerate(variants):
        t0 = time.perf_counter()
        x, x_T, info = generate(cfg, n, v, seed=seed, force=force and i == 0,   # retrain once, not per variant
                                precision=precision)
        label = f"{get_task(cfg.task).label}: {v}"
        fid = metrics.fid_from_features(metrics.extract_features(x), ref)
        rows.append(table_row(cfg, table, label, {"FID": round(fid, 2)}, n=n,
                              reference=f"{cfg.dataset} {reference_split} (N={len(ref)})", T=cfg.T or "published",
                              step=info["step"], train_s=info["wall_s"], eval_s=round(time.perf_counter() - t0, 1),
                              precision=precision))
        samples[label] = (x, x_T)
    return rows, samples
