"""The edges' settings: the one place colddiff reads its environment variables.

Only the command line (``python -m colddiff_lib``), ``make`` and the notebooks call these; the
library itself takes every setting as an argument or a config field.  The notebooks' parameters
(papermill ``-p``) are checked here too.

* ``COLDDIFF_PROFILE``  the profile a notebook run uses when ``make`` sets it (``PROFILE=``);
* ``COLDDIFF_FORCE``    retrain instead of loading (``FORCE=``): 1/true/yes/on or 0/false/no/off;
* ``COLDDIFF_DATA``     the data root (default ``data/`` in the repository); a relative path is
  taken relative to the current working directory, like any shell path.
"""
from __future__ import annotations

import os
from pathlib import Path

from .data import LOADERS

YES, NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class EnvError(ValueError):
    pass


def parse_bool(value, name: str, fix: str = "use 1/true/yes/on or 0/false/no/off") -> bool:
    """1/true/yes/on -> True, 0/false/no/off/'' -> False; anything else is refused, not guessed."""
    if isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v not in YES + NO:
        raise EnvError(f"{name}={v!r} is not a yes/no value; {fix}")
    return v in YES


def force() -> bool:
    """COLDDIFF_FORCE (make's FORCE): retrain from scratch?"""
    return parse_bool(os.environ.get("COLDDIFF_FORCE", "0"), "COLDDIFF_FORCE",
                      fix="use 1 to retrain or 0 (FORCE=1 / FORCE=0 with make)")


def profile(valid, default: str = "smoke") -> str:
    """COLDDIFF_PROFILE (make's PROFILE), else ``default``; a name not in ``valid`` (config.PROFILES,
    passed in since config imports this module) is refused."""
    v = os.environ.get("COLDDIFF_PROFILE", "").strip() or default
    if v not in valid:
        raise EnvError(f"COLDDIFF_PROFILE={v!r} is not a profile; use {', '.join(valid)} (or unset it)")
    return v


def check_notebook_profile(given: str) -> str:
    """A notebook's PROFILE parameter against COLDDIFF_PROFILE: a papermill run with the variable set to
    another profile would otherwise silently run the notebook's default."""
    v = os.environ.get("COLDDIFF_PROFILE", "").strip()
    if v and v != given:
        raise EnvError(f"COLDDIFF_PROFILE={v!r} but the notebook's PROFILE is {given!r}; pass -p PROFILE {v} "
                       "to papermill (make does), or unset COLDDIFF_PROFILE")
    return given


def data_root() -> str | None:
    """COLDDIFF_DATA as an absolute folder (relative to the working directory), or None if unset.
    A path that exists but is not a folder is refused (it would silently fall back to packaged data)."""
    v = os.environ.get("COLDDIFF_DATA", "").strip()
    if not v:
        return None
    p = Path(v).expanduser().absolute()
    if not p.exists():
        raise EnvError(f"COLDDIFF_DATA={v} does not exist; create it, point it at the data root "
                       "(the folder holding MNIST/, cifar-10-batches-py/, celeba_hq/ ...), or unset it")
    if not p.is_dir():
        raise EnvError(f"COLDDIFF_DATA={v} is a file, not a folder; point it at the data root "
                       "(the folder holding MNIST/, cifar-10-batches-py/, celeba_hq/ ...)")
    return str(p)


def config_overrides() -> dict:
    """Config fields set by the environment: ``data_root`` from COLDDIFF_DATA (when set)."""
    root = data_root()
    return {"data_root": root} if root is not None else {}


# --------------------------------------------------------------------------------------------
# notebook parameters (papermill -p NAME VALUE passes strings and numbers as given)
# --------------------------------------------------------------------------------------------
def dataset_list(value, name: str = "DATASETS") -> list[str]:
    """A list of dataset names from a list, one name, or a comma-separated string."""
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise EnvError(f"{name} must be a list of dataset names (e.g. -y \"{name}: [mnist]\" or -p {name} mnist), "
                       f"got {value!r}")
    bad = [v for v in items if not isinstance(v, str) or v not in LOADERS]
    if bad or not items:
        raise EnvError(f"{name}: unknown dataset(s) {', '.join(map(repr, bad)) or '(none given)'}; "
                       f"valid datasets: {', '.join(sorted(LOADERS))}")
    return items


def positive_or_none(value, name: str):
    """A positive integer, or None for the profile's default."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise EnvError(f"{name} must be a positive integer or None (the profile's default), got {value!r}")
    return value
