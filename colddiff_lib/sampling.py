"""Samplers of the paper, as plain functions with one signature:

    sampler(R, D, x_t, state=None, t_start=None, callback=None, progress=False) -> x0_hat

* ``R(x, t)`` is the restoration network (returns an estimate of x0);
* ``D`` is a :class:`~colddiff_lib.degradations.Degradation` (D(x0, s, state));
* ``x_t`` is the degraded batch at level ``t_start`` (default ``D.T``);
* ``state`` is the per-image randomness of ``D`` (masks, snow, the mixing z) that produced x_t;
* ``callback(dict(s=..., x=..., x0_hat=...))`` is called once per step, for trajectory figures.

Algorithm 2 and the estimated-noise sampler also take ``stride=k`` (beyond the paper, whose samplers
take every level): they visit s = t, t-k, t-2k, ..., 0 and so call R about t/k times instead of t.
``stride=1`` (the default) is the paper's sampler, step for step.
"""
from __future__ import annotations

from typing import Callable

import numbers

import torch
from tqdm.auto import tqdm

from .common import progress_enabled, slice_state
from .degradations import Degradation, Mixing


class SamplerError(ValueError):
    pass


def start_level(D: Degradation, t_start, name: str = "t_start", what: str = "") -> int:
    """The level t the sampler starts from: ``D.T`` by default, else an integer in 1..T.  ``name``
    and ``what`` word the error for a caller whose users know it by another name (restore's ``t``)."""
    if t_start is None:
        return D.T
    for_what = f" for {what}" if what else ""
    if isinstance(t_start, bool) or not isinstance(t_start, numbers.Integral) and not (
            isinstance(t_start, float) and t_start.is_integer()):
        raise SamplerError(f"{name} must be an integer in 1..{D.T}{for_what}, got {t_start!r}")
    if not 1 <= int(t_start) <= D.T:
        where = for_what or " (the degradation's T)"
        raise SamplerError(f"{name} out of range: must be in 1..{D.T}{where}, got {t_start}")
    return int(t_start)


def _step_range(D: Degradation, t_start, progress, desc):
    """s = t_start, ..., 1 (default t_start = T), with an optional progress bar."""
    s0 = start_level(D, t_start)
    return tqdm(range(s0, 0, -1), desc=desc, leave=False, disable=not progress_enabled(progress))


def _strided_levels(D: Degradation, t_start, stride, progress, desc):
    """(s, s_next) pairs: s = t_start, t_start - k, ... down to s_next = 0 (the last jump may be shorter)."""
    if isinstance(stride, bool) or not isinstance(stride, numbers.Integral) or stride < 1:
        raise SamplerError(f"stride must be a positive integer (1 = every level, the paper's sampler), got {stride!r}")
    s0 = start_level(D, t_start)
    levels = list(range(s0, 0, -int(stride))) + [0]
    pairs = list(zip(levels[:-1], levels[1:]))
    return tqdm(pairs, desc=desc, leave=False, disable=not progress_enabled(progress))


def level_batch(s: int, x: torch.Tensor) -> torch.Tensor:
    """The level s as a batch of indices, one per image of x (what R and D take as t)."""
    return torch.full((x.shape[0],), s, device=x.device, dtype=torch.long)


@torch.no_grad()
def direct(R: Callable, D: Degradation, x_t: torch.Tensor, state=None, t_start: int | None = None,
           callback: Callable | None = None, progress: bool = False) -> torch.Tensor:
    """Direct reconstruction: x0_hat = R(x_t, t), applied once (the tables' "Direct" column)."""
    s = start_level(D, t_start)
    x0_hat = R(x_t, level_batch(s, x_t))
    if callback is not None:
        callback({"s": s, "x": x_t, "x0_hat": x0_hat})
    return x0_hat


@torch.no_grad()
def algorithm1(R: Callable, D: Degradation, x_t: torch.Tensor, state=None, t_start: int | None = None,
               callback: Callable | None = None, progress: bool = False) -> torch.Tensor:
    """Algorithm 1 of the paper (naive sampling).

    for s = t, t-1, ..., 1:
        x0_hat  = R(x_s, s)
        x_{s-1} = D(x0_hat, s-1)
    """
    x_s = x_t
    steps = _step_range(D, t_start, progress, "algorithm 1")
    for s in steps:
        x0_hat = R(x_s, level_batch(s, x_s))                              # x0_hat = R(x_s, s)
        x_s = D(x0_hat, s - 1, state)                            # x_{s-1} = D(x0_hat, s-1)
        if callback is not None:
            callback({"s": s, "x": x_s, "x0_hat": x0_hat})
    return x_s


@torch.no_grad()
def algorithm2(R: Callable, D: Degradation, x_t: torch.Tensor, state=None, t_start: int | None = None,
               callback: Callable | None = None, progress: bool = False, stride: int = 1) -> torch.Tensor:
    """Algorithm 2 of the paper (improved sampling; the tables' "Sampled" column).

    for s = t, t-1, ..., 1:
        x0_hat  = R(x_s, s)
        x_{s-1} = x_s - D(x0_hat, s) + D(x0_hat, s-1)

    For a degradation linear in s (D(x, s) = x + s e) this lands on D(x0, s-1) exactly, whatever R
    returns: the first-order error of R cancels (Section 3 of the paper).  For hot diffusion this is
    the "fixed noise" variant: the z in ``state`` is reused at every step.

    ``stride=k`` (beyond the paper): x_{s-k} = x_s - D(x0_hat, s) + D(x0_hat, s-k), the same
    cancellation over a jump of k levels (still exact for a linear D), about t/k calls of R.
    """
    x_s = x_t
    for s, s_next in _strided_levels(D, t_start, stride, progress, "algorithm 2"):
        x0_hat = R(x_s, level_batch(s, x_s))                              # x0_hat = R(x_s, s)
        x_s = x_s - D(x0_hat, s, state) + D(x0_hat, s_next, state)  # x_{s-k} = x_s - D(x0_hat, s) + D(x0_hat, s-k)
        if callback is not None:
            callback({"s": s, "x": x_s, "x0_hat": x0_hat})
    return x_s


@torch.no_grad()
def estimated_noise(R: Callable, D: Mixing, x_t: torch.Tensor, state=None, t_start: int | None = None,
                    callback: Callable | None = None, progress: bool = False, stride: int = 1) -> torch.Tensor:
    """Algorithm 2 for hot diffusion with estimated noise (DDIM-like, the paper's Table 5).

    for s = t, ..., 1:
        x0_hat  = R(x_s, s)
        z_hat   = (x_s - sqrt(abar_s) x0_hat) / sqrt(1 - abar_s)
        x_{s-1} = sqrt(abar_{s-1}) x0_hat + sqrt(1 - abar_{s-1}) z_hat  (= D(x0_hat, s-1; z_hat))

    ``stride=k`` (beyond the paper): x_{s-k} = D(x0_hat, s-k; z_hat), DDIM's strided steps.
    """
    if not isinstance(D, Mixing):
        raise TypeError("estimated_noise needs a Mixing degradation (hot diffusion or animorphosis)")
    x_s = x_t
    for s, s_next in _strided_levels(D, t_start, stride, progress, "estimated noise"):
        x0_hat = R(x_s, level_batch(s, x_s))                              # x0_hat = R(x_s, s)
        z_hat = D.estimate_state(x_s, x0_hat, s)                 # z_hat from x_s and x0_hat
        x_s = D(x0_hat, s_next, z_hat)                           # x_{s-k} = D(x0_hat, s-k; z_hat)
        if callback is not None:
            callback({"s": s, "x": x_s, "x0_hat": x0_hat})
    return x_s


SAMPLERS = {
    "direct": direct,
    "algorithm1": algorithm1,
    "algorithm2": algorithm2,
    "fixed_noise": algorithm2,           # hot diffusion's "fixed noise" is Algorithm 2 reusing z
    "estimated_noise": estimated_noise,
}


def get_sampler(name: str) -> Callable:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid samplers: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def batched(sampler: Callable, R, D, x_t, state=None, batch_size: int = 256, progress: bool = False,
            **kw) -> torch.Tensor:
    """Run a sampler over a large batch in chunks (same result, bounded memory).  ``progress``: one
    bar over the images (not one per chunk), off under CI."""
    out = []
    bar = tqdm(total=x_t.shape[0], desc=getattr(sampler, "__name__", "sampler"), unit="img",
               disable=not progress_enabled(progress))
    for lo in range(0, x_t.shape[0], batch_size):
        hi = min(lo + batch_size, x_t.shape[0])
        out.append(sampler(R, D, x_t[lo:hi], slice_state(state, lo, hi, x_t.device), **kw))
        bar.update(hi - lo)
    bar.close()
    return torch.cat(out)
