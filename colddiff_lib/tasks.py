"""The tasks: the single list of what colddiff can train, and per task its data, its degradation
D (the published schedule for each dataset), its objective and its network.

    task = TASKS["deblur"]
    D = build_degradation("deblur", "mnist", image_size=32, channels=1)     # the paper's schedule
    D = make_degradation(cfg, channels)        # the same, for a config (T override, animorph source)

Adding a degradation: write its class in :mod:`colddiff_lib.degradations`, then one entry here.

* ``restoration`` tasks are the paper's Tables 1-4 (and decolorisation): R restores x0 from x_t;
* ``generation`` tasks are Table 5 / Figure 21: R is trained the same way, and sampling starts
  from a fully degraded state drawn from the degradation's prior;
* ``workshop`` is the hot-diffusion workshop's class-conditional noise-prediction model
  (:mod:`colddiff_lib.ddpm`), set beside the cold models in notebook 09.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from . import config
from .data import LOADERS, ImageSet, load_dataset
from .ddpm import NUM_CLASSES
from .degradations import (MAX_T, SUPERRES_CASCADES, check_T, Blur, Decolorization, Degradation, DegradationError, GaussianMask, Mixing, Snow,
                           SuperResolution)
from .objectives import EpsilonLoss, L1Restoration
from .unet import Unet, build_unet


def family(dataset: str) -> str:
    """Which published schedule a dataset uses (stand-ins use their real dataset's)."""
    base = config.real_dataset(dataset)
    return {"fashion-mnist": "mnist"}.get(base, base)


def per_step(T: int, fn) -> list:
    """The official code indexes steps from 0: step t (1..T) uses fn(t - 1)."""
    return [fn(i) for i in range(T)]


# --------------------------------------------------------------------------------------------
# published schedules: (dataset family, image size, channels, T or None, source[, k]) -> D; the blur
# schedules take k, the factor on sigmas published for 128 px (blur_scale)
# --------------------------------------------------------------------------------------------
def chosen_T(T, published):
    """T as overridden by the config (``T``), else the published T of the schedule."""
    return int(T) if T is not None else published


BLUR_SIGMAS = ("auto", "published", "scaled")
_BLUR_TASKS = ("deblur", "blurgen")       # their schedules take the factor k on the sigmas
_SUPERRES_TASKS = ("superres", "superresgen")   # their schedules take the cascade
_SCALED_FAMILIES = ("celeba", "afhq")     # "auto": the families whose blur schedules were published at 128 px


def blur_scale(task: str, fam: str, S: int, blur_sigmas: str = "auto") -> float:
    """The factor on the blur sigmas of a schedule published for 128x128 images: CelebA/AFHQ
    deblurring and blur generation (the only published blur-generation schedule, which MNIST uses
    too).  MNIST and CIFAR-10 deblurring have their own 32-px schedules: always 1.

    ``blur_sigmas`` (the config field of that name):

    * ``"auto"`` (default): S/128 for CelebA/AFHQ and their stand-ins, so that D(x0, t) removes the
      same share of a 32-px stand-in at every t as of a 128-px face (unscaled, sigma up to 7.4 px
      flattens a 32-px face within a few steps); MNIST blur generation keeps the published sigmas
      (its committed models were trained so);
    * ``"published"``: the published sigmas at any image size;
    * ``"scaled"``: S/128 for every 128-px schedule, MNIST blur generation included (at 32 px the
      published sigmas leave x_t exactly flat, after 8-bit quantisation, from t of about 100 of 300;
      scaled, from about 250, as for a 128-px face).
    """
    if blur_sigmas not in BLUR_SIGMAS:
        raise DegradationError(f"unknown blur_sigmas {blur_sigmas!r}; valid: {', '.join(BLUR_SIGMAS)}")
    if task not in _BLUR_TASKS or (task == "deblur" and fam not in _SCALED_FAMILIES):
        return 1.0
    if blur_sigmas == "published" or (blur_sigmas == "auto" and fam not in _SCALED_FAMILIES):
        return 1.0
    return S / 128


def schedule_revision(task: str, dataset: str, image_size: int, blur_sigmas: str = "auto") -> str | None:
    """A tag for the config hash where D differs from the first release's schedule (so checkpoints
    trained with the old D are refused); ``None`` where D is unchanged (hashes stay valid).  The
    config field ``blur_sigmas`` acts on the hash only through this tag: a setting that gives the
    first release's D keeps its hash."""
    if blur_scale(task, family(dataset), image_size, blur_sigmas) != 1.0:
        return "blur sigmas x image_size/128"
    return None


def _deblur(fam, S, C, T, source, k=1.0):
    if fam == "mnist":
        n = chosen_T(T, 20)        # the code's README (the paper's text says 40)
        return Blur(n, C, S, 11, [7.0] * n, "circular")
    if fam == "cifar10":
        n = chosen_T(T, 50)
        return Blur(n, C, S, 11, per_step(n, lambda i: 0.35 + i / 100), "reflect")
    if fam in ("celeba", "afhq"):
        n = chosen_T(T, 200)
        return Blur(n, C, S, 15, per_step(n, lambda i: k * math.exp(0.01 * i)), "reflect")
    return None


def _blurgen(fam, S, C, T, source, k=1.0):
    n = chosen_T(T, 300)
    return Blur(n, C, S, 27, per_step(n, lambda i: k * math.exp(0.01 * i)), "circular", final_mean=True, quantize=True)


def _inpaint(fam, S, C, T, source):
    if fam in ("mnist", "cifar10"):
        return GaussianMask(chosen_T(T, 50), C, S, kernel_std=0.1, initial=11, random_centre=True)
    if fam in ("celeba", "afhq"):   # published for 128x128; widths scale with the image
        return GaussianMask(chosen_T(T, 100), C, S, kernel_std=0.2 * S / 128, initial=1, random_centre=False)
    return None


def _inpaintgen(fam, S, C, T, source):
    return GaussianMask(chosen_T(T, 750), C, S, kernel_std=0.05 * S / 128, initial=1, random_centre=False, fill="colour")


def _superres(fam, S, C, T, source, cascade="halve"):
    smallest = 8 if fam in ("celeba", "afhq") and S >= 128 else 4
    return SuperResolution(chosen_T(T, int(round(math.log2(S / smallest)))), C, S, cascade=cascade)


def _superresgen(fam, S, C, T, source, cascade="halve"):
    return SuperResolution(chosen_T(T, int(round(math.log2(S / 2)))), C, S, cascade=cascade)


def _snow(fam, S, C, T, source):
    thr, sig = (0.55, 20.0) if fam in ("celeba", "afhq") else (0.7, 16.0)
    return Snow(chosen_T(T, 200), C, S, threshold_T=thr, sigma_T=sig)


def _decolor(fam, S, C, T, source):
    return Decolorization(chosen_T(T, 20), C, S)


def _hot(fam, S, C, T, source):
    return Mixing(chosen_T(T, 200), C, S)


def _animorph(fam, S, C, T, source):
    if source is None:
        raise DegradationError("animorph needs source images (e.g. AFHQ or 'afhq-standin') as `source`")
    return Mixing(chosen_T(T, 200), C, S, source=source, source_name="animal")


@dataclass(frozen=True)
class Task:
    name: str
    kind: str                                   # "restoration", "generation" or "workshop"
    schedule: Callable | None                   # (family, size, channels, T, source) -> D, or None
    objective: str = "l1"                       # "l1": the paper's loss; "eps": noise prediction
    num_classes: int = 0                        # > 0: a class-conditional network
    needs_source: bool = False                  # D mixes with images of another dataset (animorph)
    paper: str = ""                             # where it is in the paper
    # generation tasks: variant -> (sampler name, keyword arguments of D.prior), and the label
    # prefix of their table rows ("<label>: <variant>")
    variants: tuple = ()
    label: str = ""
    datasets: tuple = ()                        # the datasets it can use (empty: any)
    table: tuple = ()                           # (number, title) of the paper table its rows go into
    # Why the network must sample in fp32 even where bf16 is native (precision.choose's "auto"), or "":
    # where x_T keeps the image in grey-level differences finer than bf16's 8-bit mantissa resolves
    # (tests/test_precision.py measures that ratio for every task)
    fp32_sampling: str = ""

    def variant(self, name: str):
        known = dict(self.variants)
        if name not in known:
            raise DegradationError(f"task {self.name!r} has no generation variant {name!r}; "
                                   f"valid variants: {', '.join(known) or 'none (not a generation task)'}")
        return known[name]


_SAMPLE = (("sample", ("algorithm2", {})),)
# bf16 keeps 8 bits of mantissa (steps of 2^-8 near 1).  After T blurs x_T holds the digit in
# deviations of about 1e-2 (MNIST deblurring: bf16 rounding alone is 14% of them; blur generation's
# mean, 1e-7; inpainting generation near T, 1e-4), so in bf16 autocast R reads another image: Table
# 1's Direct SSIM falls from 0.70 to 0.40 (results/cpu/ablations/precision_deblur_mnist.md)
_BF16_FLAT = ("x_T keeps the image in grey-level differences finer than bf16 resolves (bf16 sampling lowers "
              "MNIST deblurring's Direct SSIM from 0.70 to 0.40)")
GENERATION_TABLE = (5, "Generation")            # every generation task writes its rows into Table 5


TASKS: dict[str, Task] = {t.name: t for t in [
    Task("deblur", "restoration", _deblur, paper="Table 1", table=(1, "Deblurring"),
         fp32_sampling=_BF16_FLAT),
    Task("inpaint", "restoration", _inpaint, paper="Table 2", table=(2, "Inpainting")),
    Task("superres", "restoration", _superres, paper="Table 3", table=(3, "Super-resolution")),
    Task("snow", "restoration", _snow, paper="Table 4", table=(4, "Desnowification")),
    # not a numbered table in the paper: its rows are written as "Table 8" (the paper's colourisation figure)
    Task("decolor", "restoration", _decolor, paper="Section 4.5 (colourisation)", table=(8, "Colorization")),
    Task("animorph", "generation", _animorph, needs_source=True, paper="Figure 1 / Appendix (animorphosis)",
         variants=_SAMPLE, label="animorph", table=GENERATION_TABLE),
    # Table 5, hot diffusion: Algorithm 2 reusing the noise z of x_T (fixed) or re-estimating it (DDIM-like)
    Task("hot", "generation", _hot, paper="Table 5 (hot diffusion: Gaussian noise as a degradation)",
         variants=(("fixed noise", ("algorithm2", {})), ("estimated noise", ("estimated_noise", {}))), label="hot",
         table=GENERATION_TABLE),
    # Table 5, blur: flat x_T from the GMM prior (perfect symmetry) or with noise of std 0.002 (broken)
    Task("blurgen", "generation", _blurgen, paper="Table 5 / Figure 21 (blur generation)",
         variants=(("perfect symmetry", ("algorithm2", {"noise_std": 0.0})),
                   ("broken symmetry", ("algorithm2", {"noise_std": 0.002}))), label="blur",
         table=GENERATION_TABLE, fp32_sampling=_BF16_FLAT),
    Task("inpaintgen", "generation", _inpaintgen, paper="Section 5 (generation from masks)",
         variants=_SAMPLE, label="inpaintgen", table=GENERATION_TABLE, fp32_sampling=_BF16_FLAT),
    Task("superresgen", "generation", _superresgen, paper="Section 5 (generation from 2x2 images)",
         variants=_SAMPLE, label="superresgen", table=GENERATION_TABLE),
    Task("ddpm", "workshop", None, objective="eps", num_classes=NUM_CLASSES, datasets=("mnist", "fashion-mnist"),
         paper="not in the paper: the workshop's class-conditional DDPM (needs 10 labelled classes)"),
]}

# animorphosis: the animal images that a face is mixed with
ANIMAL_SOURCE = {"celeba": "afhq", "celeba-standin": "afhq-standin"}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise DegradationError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    return TASKS[name]


def build_degradation(task: str, dataset: str, image_size: int, channels: int, T: int | None = None,
                      source: torch.Tensor | None = None, blur_sigmas: str = "auto",
                      superres_cascade: str = "halve") -> Degradation:
    """The paper's degradation for (task, dataset); ``T`` overrides the published number of steps
    (per-step schedules are truncated or extended by their formula); ``blur_sigmas``: how a blur
    schedule published for 128 px is used at other sizes (:func:`blur_scale`); ``superres_cascade``:
    what each super-resolution step halves (:class:`degradations.SuperResolution`)."""
    spec = get_task(task)
    if spec.schedule is None:
        raise DegradationError(f"task {task!r} has no cold degradation (it is the {spec.kind} model)")
    if T is not None:
        check_T(T, f"{task} on {dataset}")    # before the schedule is built, which costs memory per level
    fam, S = family(dataset), int(image_size)
    k = blur_scale(task, fam, S, blur_sigmas)
    extra = {"cascade": superres_cascade} if task in _SUPERRES_TASKS else {}
    D = spec.schedule(fam, S, int(channels), T, source, *((k,) if task in _BLUR_TASKS else ()), **extra)
    if D is None:
        raise DegradationError(f"no published {task} schedule for dataset {dataset!r}")
    return D


# --------------------------------------------------------------------------------------------
# per config: data, D, objective, network
# What config validates and hashes with (config imports nothing of ours; see config.register).
config.register(datasets=tuple(sorted(LOADERS)), tasks={name: t.datasets for name, t in TASKS.items()},
                blur_sigmas=BLUR_SIGMAS, superres_cascades=SUPERRES_CASCADES, max_T=MAX_T,
                schedule_revision=schedule_revision)


# --------------------------------------------------------------------------------------------
def load_data(cfg, split: str) -> ImageSet:
    """The config's dataset split, at its image size, from its data root."""
    return load_dataset(cfg.dataset, split, image_size=cfg.image_size, root=cfg.data_path, download=cfg.download)


def make_degradation(cfg, channels: int) -> Degradation:
    """D for a config (its task, dataset, image size, T override; animorph loads its animals)."""
    source = None
    if get_task(cfg.task).needs_source:
        src_name = ANIMAL_SOURCE.get(cfg.dataset, "afhq-standin" if config.real_dataset(cfg.dataset) != cfg.dataset else "afhq")
        source = load_dataset(src_name, "train", image_size=cfg.image_size, root=cfg.data_path,
                              download=cfg.download).all()
        if source.shape[1] != channels:
            source = source.mean(1, keepdim=True) if channels == 1 else source.repeat(1, 3, 1, 1)
    return build_degradation(cfg.task, cfg.dataset, cfg.image_size, channels, T=cfg.T, source=source,
                             blur_sigmas=cfg.blur_sigmas, superres_cascade=cfg.superres_cascade)


def make_objective(cfg, channels: int):
    """The training loss of a config's task (see :mod:`colddiff_lib.objectives`)."""
    if get_task(cfg.task).objective == "eps":
        return EpsilonLoss()
    return L1Restoration(make_degradation(cfg, channels))


def build_model(cfg, channels: int) -> Unet:
    """R for cold tasks; the class-conditional epsilon network for the workshop task 'ddpm'."""
    n = get_task(cfg.task).num_classes
    return build_unet(cfg, channels, num_classes=n) if n else build_unet(cfg, channels)
