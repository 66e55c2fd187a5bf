"""The restoration network R(x_t, t): the paper's U-Net.

ConvNeXt-style blocks, ``dim`` 64 and ``dim_mults`` (1, 2, 4, 8) in the paper, linear attention at
every level and in the middle, and a sinusoidal time embedding through an MLP
(dim -> 4*dim -> dim, GELU).  It predicts x0.  An optional class embedding (with a null class for
classifier-free guidance) serves the hot-diffusion workshop model.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class SinusoidalPosEmb(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * -(math.log(10000) / (half - 1)))
        a = t.float()[:, None] * freqs[None]
        return torch.cat([a.sin(), a.cos()], dim=-1)


class LayerNorm2d(nn.Module):
    """Layer norm over channels, per pixel (as in the original implementation)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.b = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x):
        # F.layer_norm normalises the last dimension: move channels there.  For a channels-last
        # tensor (as in training) the permute is free, and one fused kernel beats the literal form
        # below's five passes over the tensor (make bench --only norm measures both).
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.g.view(-1), self.b.view(-1), self.eps)
        return y.permute(0, 3, 1, 2)

    def literal(self, x):
        """The definition: (x - mean_c) / sqrt(var_c + eps) * g + b, per pixel over the channels."""
        var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
        return (x - mean) / (var + self.eps).sqrt() * self.g + self.b


class ConvNextBlock(nn.Module):
    """Depthwise 7x7 conv, + time embedding, then norm -> conv3x3 -> GELU -> conv3x3, residual."""

    def __init__(self, dim: int, dim_out: int, time_dim: int | None, mult: int = 2, norm: bool = True):
        super().__init__()
        self.mlp = nn.Sequential(nn.GELU(), nn.Linear(time_dim, dim)) if time_dim else None
        self.ds_conv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.net = nn.Sequential(
            LayerNorm2d(dim) if norm else nn.Identity(),
            nn.Conv2d(dim, dim_out * mult, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(dim_out * mult, dim_out, 3, padding=1),
        )
        self.res_conv = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

    def forward(self, x, emb):
        h = self.ds_conv(x)
        if self.mlp is not None:
            h = h + self.mlp(emb)[:, :, None, None]
        return self.net(h) + self.res_conv(x)


class LinearAttention(nn.Module):
    def __init__(self, dim: int, heads: int = 4, dim_head: int = 32):
        super().__init__()
        self.scale, self.heads = dim_head ** -0.5, heads
        hidden = dim_head * heads
        self.to_qkv = nn.Conv2d(dim, hidden * 3, 1, bias=False)
        self.to_out = nn.Conv2d(hidden, dim, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.to_qkv(x).chunk(3, dim=1)
        q, k, v = (y.reshape(b, self.heads, -1, h * w) for y in (q, k, v))
        q = q * self.scale
        k = k.softmax(dim=-1)
        context = torch.einsum("bhdn,bhen->bhde", k, v)
        out = torch.einsum("bhde,bhdn->bhen", context, q)
        return self.to_out(out.reshape(b, -1, h, w))


class Attention(nn.Module):
    """Residual(PreNorm(LinearAttention))."""

    def __init__(self, dim: int, heads: int = 4, dim_head: int = 32):
        super().__init__()
        self.norm = LayerNorm2d(dim)
        self.attn = LinearAttention(dim, heads, dim_head)

    def forward(self, x):
        return x + self.attn(self.norm(x))


class Unet(nn.Module):
    """R(x, t[, y]) -> x0 estimate (or epsilon, for the workshop's noise-prediction model)."""

    def __init__(self, dim: int = 64, dim_mults=(1, 2, 4, 8), channels: int = 3, num_classes: int | None = None,
                 attn_heads: int = 4, attn_dim_head: int = 32):
        super().__init__()
        self.channels, self.num_classes = channels, num_classes
        dims = [channels, *[dim * m for m in dim_mults]]
        in_out = list(zip(dims[:-1], dims[1:]))
        time_dim = dim
        self.time_mlp = nn.Sequential(SinusoidalPosEmb(dim), nn.Linear(dim, dim * 4), nn.GELU(),
                                      nn.Linear(dim * 4, dim))
        # class label embedding; index num_classes is the null label (classifier-free guidance)
        self.class_emb = nn.Embedding(num_classes + 1, dim) if num_classes else None
        self.downs, self.ups = nn.ModuleList(), nn.ModuleList()
        n = len(in_out)
        for i, (a, b) in enumerate(in_out):
            last = i == n - 1
            self.downs.append(nn.ModuleList([
                ConvNextBlock(a, b, time_dim, norm=i != 0),
                ConvNextBlock(b, b, time_dim),
                Attention(b, attn_heads, attn_dim_head),
                nn.Conv2d(b, b, 4, 2, 1) if not last else nn.Identity(),
            ]))
        mid = dims[-1]
        self.mid1 = ConvNextBlock(mid, mid, time_dim)
        self.mid_attn = Attention(mid, attn_heads, attn_dim_head)
        self.mid2 = ConvNextBlock(mid, mid, time_dim)
        for a, b in reversed(in_out[1:]):   # as the original: every up level upsamples
            self.ups.append(nn.ModuleList([
                ConvNextBlock(b * 2, a, time_dim),
                ConvNextBlock(a, a, time_dim),
                Attention(a, attn_heads, attn_dim_head),
                nn.ConvTranspose2d(a, a, 4, 2, 1),
            ]))
        self.final = nn.Sequential(ConvNextBlock(dim, dim, None), nn.Conv2d(dim, channels, 1))
        self.min_size = 2 ** (n - 1)
        self.channels_last = False

    def to_channels_last(self) -> "Unet":
        """Hold weights and activations channels-last: the same function, faster on CPU (the
        depthwise 7x7 convolution has a much faster channels-last kernel; make bench measures it)."""
        self.channels_last = True
        return self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels or x.shape[-1] % self.min_size or x.shape[-2] % self.min_size:
            raise ValueError(f"Unet expects (N, {self.channels}, H, W) with H, W divisible by {self.min_size}; "
                             f"got {tuple(x.shape)}")
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        t = torch.as_tensor(t, device=x.device)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        emb = self.time_mlp(t)
        if self.class_emb is not None:
            if y is None:
                y = torch.full((x.shape[0],), self.num_classes, device=x.device, dtype=torch.long)
            emb = emb + self.class_emb(y)
        h = []
        for b1, b2, attn, down in self.downs:
            x = attn(b2(b1(x, emb), emb))
            h.append(x)
            x = down(x)
        x = self.mid2(self.mid_attn(self.mid1(x, emb)), emb)
        for b1, b2, attn, up in self.ups:
            x = torch.cat([x, h.pop()], dim=1)
            x = up(attn(b2(b1(x, emb), emb)))
        return self.final[1](self.final[0](x, None))


def build_unet(cfg, channels: int, **kw) -> Unet:
    return Unet(dim=cfg.unet_dim, dim_mults=cfg.dim_mults, channels=channels, attn_heads=cfg.attn_heads,
                attn_dim_head=cfg.attn_dim_head, **kw)
