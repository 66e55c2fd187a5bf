"""The workshop's hot diffusion: DDPM with a class-conditional epsilon model (task ``ddpm``).

Not the paper's "hot" diffusion: that one (task ``hot``, Table 5) is a cold degradation that mixes
the image with Gaussian noise (:class:`colddiff_lib.degradations.Mixing`), trained with the l1
restoration loss like every cold task.  This module is the standard DDPM of the workshop
(notebook 09), whose techniques are set beside their cold counterparts.  Its training loss is
:class:`colddiff_lib.objectives.EpsilonLoss`.

Forward process (DDPM, T = 1000, linear betas 1e-4 .. 0.02, t = 0..999):

    x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps

Everything samples through one loop, :func:`denoise`, over strided timesteps
(t_0 > t_1 > ... > 0) with the DDPM posterior step plus its variance term.  What changes between
the workshop's techniques is only

* ``eps_fn(x_t, t)``: the noise estimate (plain, classifier-free guidance, visual anagram, hybrid);
* ``project(x_t, t)``: an optional projection after each step (inpainting).

Class labels play the part of text prompts; label ``NULL`` (= 10) is the unconditional branch,
dropped in with probability 0.1 during training.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable

import numpy as np
import torch

NUM_CLASSES = 10
NULL = NUM_CLASSES
T_DDPM = 1000


class DDPMError(ValueError):
    pass


class DDPMSchedule:
    def __init__(self, T: int = T_DDPM, beta_start: float = 1e-4, beta_end: float = 0.02):
        self.T = T
        self.betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
        self.alphas = 1 - self.betas
        self.abar = torch.cumprod(self.alphas, 0)

    def ab(self, t, like: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=like.device)
        if t.dim() == 0:
            t = t.expand(like.shape[0])
        if int(t.min()) < 0 or int(t.max()) >= self.T:
            raise DDPMError(f"t must be in 0..{self.T - 1}, got {int(t.min())}..{int(t.max())}")
        return self.abar.to(like.device)[t].to(like.dtype).view(-1, 1, 1, 1)

    def forward(self, x0, t, eps):
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps."""
        a = self.ab(t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * eps

    def x0_from_eps(self, x_t, t, eps):
        """One-step denoising: x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
        a = self.ab(t, x_t)
        return (x_t - (1 - a).sqrt() * eps) / a.sqrt()

    def step(self, x_t, t: int, t_prev: int, eps, generator=None, clip: bool = True, noise: bool = True):
        """DDPM posterior step from t to t_prev < t (strided), with the variance term.

        alpha = abar_t / abar_prev, beta = 1 - alpha;
        mean = sqrt(abar_prev) beta / (1 - abar_t) x0_hat + sqrt(alpha) (1 - abar_prev) / (1 - abar_t) x_t;
        var  = (1 - abar_prev) / (1 - abar_t) beta.
        """
        a_t = float(self.abar[t])
        a_p = float(self.abar[t_prev]) if t_prev >= 0 else 1.0
        alpha = a_t / a_p
        beta = 1 - alpha
        x0_hat = self.x0_from_eps(x_t, t, eps)
        if clip:
            x0_hat = x0_hat.clamp(-1, 1)
        mean = (math.sqrt(a_p) * beta / (1 - a_t)) * x0_hat + (math.sqrt(alpha) * (1 - a_p) / (1 - a_t)) * x_t
        if not noise or t_prev < 0:
            return mean, x0_hat
        var = (1 - a_p) / (1 - a_t) * beta
        z = torch.randn(x_t.shape, generator=generator).to(x_t)
        return mean + math.sqrt(var) * z, x0_hat


def strided_timesteps(start: int = T_DDPM - 1, stride: int = 30) -> list[int]:
    """[start, start - stride, ..., ending at 0]."""
    if stride < 1:
        raise DDPMError(f"stride must be >= 1, got {stride}")
    ts = list(range(start, -1, -stride))
    if ts[-1] != 0:
        ts.append(0)
    return ts


# --------------------------------------------------------------------------------------------
# noise estimates
# --------------------------------------------------------------------------------------------
def _labels(c, n, device) -> torch.Tensor:
    if c is None:
        return torch.full((n,), NULL, dtype=torch.long, device=device)
    y = torch.as_tensor(c, device=device)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise DDPMError(f"unknown class {c!r}: classes are the integers 0..{NUM_CLASSES - 1} (None for unconditional)")
    y = y.long()
    if y.dim() == 0:
        y = y.expand(n)
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= NUM_CLASSES):
        raise DDPMError(f"unknown class {c!r}: classes are the integers 0..{NUM_CLASSES - 1} (None for unconditional)")
    return y


def _gamma(g) -> float:
    if isinstance(g, bool) or not isinstance(g, numbers.Real) or not math.isfinite(float(g)):
        raise DDPMError(f"guidance scale gamma must be a finite number, got {g!r}")
    return float(g)


def cfg_eps(model, x_t, t, c, gamma: float = 1.0) -> torch.Tensor:
    """Classifier-free guidance: eps = eps_u + gamma (eps_c - eps_u); gamma = 1 is eps_c, gamma = 0
    is eps_u (one network pass each, not two)."""
    gamma = _gamma(gamma)
    n = x_t.shape[0]
    tt = torch.full((n,), int(t), device=x_t.device, dtype=torch.long)
    cond, null = _labels(c, n, x_t.device), _labels(None, n, x_t.device)   # c is checked in any case
    if gamma == 1.0 or c is None:
        return model(x_t, tt, cond)
    if gamma == 0.0:
        return model(x_t, tt, null)
    eps_c, eps_u = model(x_t, tt, cond), model(x_t, tt, null)
    return eps_u + gamma * (eps_c - eps_u)


def flip(x):
    """Upside down (rotate 180 degrees), so that a 6 reads as a 9."""
    return torch.flip(x, dims=(-2, -1))


def anagram_eps(model, x_t, t, c1, c2, gamma: float = 1.0):
    """Visual anagram: eps = (eps(x_t, c1) + flip(eps(flip(x_t), c2))) / 2."""
    return (cfg_eps(model, x_t, t, c1, gamma) + flip(cfg_eps(model, flip(x_t), t, c2, gamma))) / 2


def lowpass(x, sigma: float = 1.5):
    k = int(2 * math.ceil(3 * sigma) + 1)
    from torchvision.transforms.functional import gaussian_blur
    return gaussian_blur(x, [k, k], [sigma, sigma])


def hybrid_eps(model, x_t, t, c_low, c_high, gamma: float = 1.0, sigma: float = 1.5):
    """Factorised diffusion: eps = lowpass(eps(c_low)) + highpass(eps(c_high)), where
    highpass = identity - lowpass (a Laplacian-pyramid-style high band)."""
    e1, e2 = cfg_eps(model, x_t, t, c_low, gamma), cfg_eps(model, x_t, t, c_high, gamma)
    return lowpass(e1, sigma) + (e2 - lowpass(e2, sigma))


# --------------------------------------------------------------------------------------------
# the one loop
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def denoise(eps_fn: Callable, sched: DDPMSchedule, x_t: torch.Tensor, timesteps: list[int],
            generator: torch.Generator | None = None, project: Callable | None = None,
            callback: Callable | None = None, clip: bool = True) -> torch.Tensor:
    """Iterative denoising from x_{timesteps[0]} down to x_0 with strided DDPM steps."""
    x = x_t
    for i, t in enumerate(timesteps):
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        eps = eps_fn(x, t)
        x, x0_hat = sched.step(x, t, t_prev, eps, generator=generator, clip=clip)
        if project is not None and t_prev >= 0:
            x = project(x, t_prev)
        if callback is not None:
            callback({"t": t, "t_prev": t_prev, "x": x, "x0_hat": x0_hat})
    return x


@torch.no_grad()
def ddpm_plain(model, sched: DDPMSchedule, x_T, c=None, generator=None):
    """The textbook DDPM sampler (stride 1, no clipping):
    x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z, sigma_t^2 = beta~_t."""
    x = x_T
    for t in range(sched.T - 1, -1, -1):
        eps = cfg_eps(model, x, t, c)
        b, a, ab = float(sched.betas[t]), float(sched.alphas[t]), float(sched.abar[t])
        x = (x - b / math.sqrt(1 - ab) * eps) / math.sqrt(a)
        if t > 0:
            var = (1 - float(sched.abar[t - 1])) / (1 - ab) * b
            x = x + math.sqrt(var) * torch.randn(x.shape, generator=generator).to(x)
    return x


def sample(model, sched, n: int, c=None, gamma: float = 1.0, stride: int = 30, generator=None, size=(1, 32, 32),
           callback=None):
    """Generation from pure noise, optionally class-conditional with CFG."""
    x = torch.randn((n, *size), generator=generator)
    return denoise(lambda x, t: cfg_eps(model, x, t, c, gamma), sched, x, strided_timesteps(sched.T - 1, stride),
                   generator, callback=callback)


def sdedit(model, sched, x_orig, t_start: int, c=None, gamma: float = 1.0, stride: int = 30, generator=None):
    """Image-to-image translation: noise x_orig to level t_start, then denoise (SDEdit)."""
    eps = torch.randn(x_orig.shape, generator=generator)
    x = sched.forward(x_orig, t_start, eps)
    return denoise(lambda x, t: cfg_eps(model, x, t, c, gamma), sched, x, strided_timesteps(t_start, stride), generator)


def inpaint(model, sched, x_orig, mask, c=None, gamma: float = 1.0, stride: int = 30, generator=None,
            callback=None):
    """Inpainting: after every step, x_t <- m x_t + (1 - m) forward(x_orig, t); m = 1 where new
    content is generated."""
    if not torch.is_tensor(mask) or mask.shape[-2:] != x_orig.shape[-2:] or mask.dim() not in (2, 3, 4):
        got = tuple(mask.shape) if torch.is_tensor(mask) else type(mask).__name__
        raise DDPMError(f"mask must be a tensor of spatial shape {tuple(x_orig.shape[-2:])} (1 = inpaint), got {got}")
    m = mask.to(x_orig).expand_as(x_orig)
    last = {}

    def project(x, t):
        last["known"] = sched.forward(x_orig, t, torch.randn(x.shape, generator=generator))   # forward(x_orig, t)
        return m * x + (1 - m) * last["known"]

    def cb(d):
        if callback is not None:
            callback({**d, "known": last["known"] if d["t_prev"] >= 0 else x_orig, "mask": m})

    x = torch.randn(x_orig.shape, generator=generator)
    ts = strided_timesteps(sched.T - 1, stride)
    x = project(x, ts[0])
    return denoise(lambda x, t: cfg_eps(model, x, t, c, gamma), sched, x, ts, generator, project=project, callback=cb)


def rasterize_strokes(strokes, size: int = 32, width: float = 2.5) -> torch.Tensor:
    """A hand-drawn digit: polylines in [0, 1]^2 (x right, y down) -> (1, 1, size, size) in [-1, 1]."""
    from PIL import Image, ImageDraw
    s = 4 * size
    im = Image.new("L", (s, s), 0)
    draw = ImageDraw.Draw(im)
    for stroke in strokes:
        pts = [(x * (s - 1), y * (s - 1)) for x, y in stroke]
        draw.line(pts, fill=255, width=int(round(width * 4)), joint="curve")
    im = im.resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(im, np.float32) / 127.5 - 1)[None, None]
