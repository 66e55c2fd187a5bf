"""Small helpers shared by the training loop, the samplers and the experiments (no colddiff imports)."""
from __future__ import annotations

import os

import torch


def default_device() -> torch.device:
    """CUDA when present, else the CPU (code never calls ``.cuda()``)."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def progress_enabled(flag: bool | None = True) -> bool:
    """tqdm bars when ``flag`` is true, never under CI (``CI=true``, the convention of CI services)."""
    if os.environ.get("CI", "").lower() == "true":
        return False
    return bool(flag)


def progress_flag(progress: bool | None, cfg) -> bool:
    """The library's reading of a ``progress`` argument: None means the config's ``progress``."""
    return cfg.progress if progress is None else bool(progress)


def slice_state(state, lo: int, hi: int, device=None):
    """Images lo..hi of a degradation state (None, a tensor or a dict of tensors), on ``device``."""
    if state is None:
        return None
    if isinstance(state, dict):
        return {k: v[lo:hi].to(device) if device is not None else v[lo:hi] for k, v in state.items()}
    return state[lo:hi].to(device) if device is not None else state[lo:hi]


def state_to(state, device):
    """A degradation state (None, a tensor or a dict of tensors) moved to ``device``."""
    if state is None:
        return None
    if isinstance(state, dict):
        return {k: v.to(device) for k, v in state.items()}
    return state.to(device)


def check_count(n, name: str = "n", at_most: int | None = None, what: str = "images") -> int:
    """A count a user gives (test images, samples): a positive integer, at most ``at_most`` when given.
    One ValueError naming the value and the fix; never a silent default (0) or wrap-around (-5)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be a positive number of {what}, got {n!r}; "
                         f"e.g. {name}=1000{f' (at most {at_most})' if at_most else ''}")
    if at_most is not None and n > at_most:
        raise ValueError(f"{name}={n} is more than the {at_most} {what} there are; give at most {at_most}")
    return n


def has_tabulate() -> bool:
    """pandas' ``to_markdown`` needs the optional ``tabulate`` package."""
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


# --------------------------------------------------------------------------------------------
# images: the models work in [-1, 1]; files, FID's Inception and matplotlib want [0, 255] or [0, 1]
# --------------------------------------------------------------------------------------------
def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float -> uint8, rounded to the nearest of 256 levels (what an 8-bit file holds)."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float -> float in [0, 1] (SSIM's and matplotlib's range; not quantised)."""
    return (x.detach().float().clamp(-1, 1) + 1) / 2


def channels_last_array(x: torch.Tensor):
    """One (C, H, W) image as a numpy array: (H, W) for one channel, (H, W, 3) for colour."""
    x = x.detach().cpu()
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()
