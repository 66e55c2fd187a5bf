"""What the notebooks run per profile: the datasets of each notebook and notebook 07's generation
plan (one place; a notebook's DATASETS parameter overrides them).  Above config and data: it asks
which optional datasets are installed."""
from __future__ import annotations

import os
from dataclasses import dataclass

from .config import PROFILES, Config, ConfigError, resolve_path
from .data import installed
from .env import dataset_list

# What the notebooks run per profile (one place; a notebook's DATASETS parameter overrides it).
# smoke: every table's plumbing in minutes, on real MNIST and labelled stand-ins. cpu: the real data
# (MNIST, plus Fashion-MNIST where installed) at the paper's evaluation size; the colour-only tables
# have no offline real data, so they keep one labelled stand-in. paper: the paper's own datasets,
# which must be in the data root (README, Data).
_RESTORATION_DATASETS = {"smoke": ("mnist", "cifar10-standin", "celeba-standin"),
                         "cpu": ("mnist", "fashion-mnist"), "paper": ("mnist", "cifar10", "celeba")}
NOTEBOOK_DATASETS = {
    "deblur": _RESTORATION_DATASETS, "inpaint": _RESTORATION_DATASETS, "superres": _RESTORATION_DATASETS,
    "snow": {"smoke": ("cifar10-standin", "celeba-standin"), "cpu": ("cifar10-standin",), "paper": ("cifar10", "celeba")},
    "decolor": {"smoke": ("cifar10-standin",), "cpu": ("cifar10-standin",), "paper": ("cifar10",)},
    "generation": {"smoke": ("celeba-standin", "afhq-standin"), "cpu": ("mnist",), "paper": ("celeba", "afhq")},
}
# datasets a profile runs only where they are installed (never required)
OPTIONAL_DATASETS = ("fashion-mnist",)


@dataclass(frozen=True)
class GenerationPlan:
    """Notebook 07 per profile: the generators of its Table 5 rows, the split FID compares with,
    and the generators shown only as an 8-sample figure (on ``other_dataset``)."""
    table_tasks: tuple
    reference_split: str
    other_tasks: tuple = ()
    other_dataset: str = ""


# Table 5 holds hot and blur generation (the paper's). The cpu profile adds generation from 2x2
# images and from masks on MNIST, and scores against the MNIST test set, as its restoration tables
# do, so that one reference serves every cpu row (the paper's code does not state its reference
# set; smoke and paper use the training split).
GENERATION_PLANS = {
    "smoke": GenerationPlan(("hot", "blurgen"), "train", ("inpaintgen", "superresgen", "animorph"), "celeba-standin"),
    "cpu": GenerationPlan(("hot", "blurgen", "superresgen", "inpaintgen"), "test"),
    "paper": GenerationPlan(("hot", "blurgen"), "train", ("inpaintgen", "superresgen", "animorph"), "celeba"),
}


def notebook_datasets(profile: str, topic: str, given=None, data_root: str | os.PathLike | None = None) -> list[str]:
    """The datasets a notebook runs: ``given`` (its DATASETS parameter: a list, one name or a
    comma-separated string) when set, else the profile's (``NOTEBOOK_DATASETS``) without an optional
    dataset that is not installed."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    if topic not in NOTEBOOK_DATASETS:
        raise ConfigError(f"unknown notebook topic {topic!r}; valid topics: {', '.join(NOTEBOOK_DATASETS)}")
    if given is not None:
        return dataset_list(given)
    root = resolve_path(data_root if data_root is not None else Config.data_root)
    return [d for d in NOTEBOOK_DATASETS[topic][profile] if d not in OPTIONAL_DATASETS or installed(d, root)]
