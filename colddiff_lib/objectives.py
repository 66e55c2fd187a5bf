"""Training objectives, one signature: ``loss = objective(net, x0, t, state, y)``.

The randomness of a step (t and the degradation's per-image state) is drawn by ``draw(x0, gen)``
for the whole global batch x0; the training loop (:func:`colddiff_lib.trainer.fit`) then hands
each process its slice, so these functions never see ranks or generators.

* :class:`L1Restoration`  the paper's loss: t ~ U{1..T}, x_t = D(x0, t), | R(x_t, t) - x0 |_1;
* :class:`EpsilonLoss`    the workshop's DDPM loss: t ~ U{0..999}, || eps_theta(x_t, t, y) - eps ||^2,
  with the class label dropped to the null class with probability 0.1 (classifier-free guidance).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .ddpm import NULL, DDPMSchedule
from .degradations import Degradation


class L1Restoration:
    """The paper's objective: | R(D(x0, t), t) - x0 |_1 with t ~ U{1..T}."""

    def __init__(self, D: Degradation):
        self.D = D

    def draw(self, x0: torch.Tensor, gen: torch.Generator):
        B = x0.shape[0]
        t = torch.randint(1, self.D.T + 1, (B,), generator=gen)   # t ~ U{1..T}
        return t, self.D.sample_state(B, generator=gen)           # the degradation's randomness

    def __call__(self, net, x0, t, state, y=None):
        x_t = self.D(x0, t, state)                                 # x_t = D(x0, t)
        return F.l1_loss(net(x_t, t).float(), x0)                 # | R(x_t, t) - x0 |_1


class EpsilonLoss:
    """Noise prediction (DDPM) with label dropout p_uncond, for classifier-free guidance."""

    def __init__(self, sched: DDPMSchedule | None = None, p_uncond: float = 0.1):
        self.sched, self.p_uncond = sched or DDPMSchedule(), p_uncond

    def draw(self, x0: torch.Tensor, gen: torch.Generator):
        B = x0.shape[0]
        t = torch.randint(0, self.sched.T, (B,), generator=gen)
        eps = torch.randn(x0.shape, generator=gen)
        drop = torch.rand(B, generator=gen) < self.p_uncond
        return t, {"eps": eps, "drop": drop}

    def __call__(self, net, x0, t, state, y):
        y = torch.where(state["drop"], torch.full_like(y, NULL), y)   # the null class: unconditional
        x_t = self.sched.forward(x0, t, state["eps"])                # x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
        return F.mse_loss(net(x_t, t, y).float(), state["eps"])
