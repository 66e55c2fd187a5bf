"""Figures: one ``savefig`` helper (PNG + PDF, atomically) and image grids."""
from __future__ import annotations

import io
import math
from pathlib import Path

import torch

from .common import channels_last_array, to_unit
from .config import Config, real_dataset
from .io import atomic_write


def savefig(fig, name: str, cfg: Config, dpi: int = 150) -> Path:
    """Write ``fig`` to ``cfg.results_path/figures/<name>.png`` and ``.pdf`` (atomically); return the PNG path."""
    if not isinstance(cfg, Config):
        raise TypeError(f"savefig takes the run's Config (its results folder), got {type(cfg).__name__}; "
                        "e.g. savefig(fig, name, config.get_config(PROFILE))")
    out = cfg.results_path / "figures" / name
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        meta = {"CreationDate": None} if ext == "pdf" else {"Software": None}
        fig.savefig(buf, format=ext, dpi=dpi, bbox_inches="tight", metadata=meta)
        atomic_write(out.with_suffix(f".{ext}"), lambda f: f.write(buf.getvalue()))
    return out.with_suffix(".png")


PROFILE_CAPTIONS = {
    "smoke": "smoke profile: a 200-step plumbing model, too small to show the paper's claim (the cpu-profile figures show it)",
    "cpu": "cpu profile: a 1.8M-parameter U-Net trained on 2 CPU cores",
    "paper": "paper profile: the published settings",
}


def run_caption(profile: str, n: int | None = None) -> str:
    """What a figure from a profile's models is: said in its title, so that a plumbing-scale figure
    never passes for the paper's result (and how many images it shows, when given)."""
    return (f"{n} test images; " if n else "") + PROFILE_CAPTIONS.get(profile, f"profile {profile}")


def dataset_label(dataset: str, short: bool = False) -> str:
    """A dataset's name for a figure: stand-ins say so (they are not the paper's datasets)."""
    base = real_dataset(dataset)
    if base == dataset:
        return dataset
    real = {"celeba": "CelebA", "cifar10": "CIFAR-10", "afhq": "AFHQ"}.get(base, dataset)
    return f"{dataset} (stand-in)" if short else f"{dataset} (STAND-IN, not the paper's {real})"


def to_display(x: torch.Tensor):
    """[-1, 1] (C, H, W) -> numpy (H, W[, 3]) in [0, 1] for imshow."""
    return channels_last_array(to_unit(x))


def _image_cell(ax, img, label: str | None = None, fontsize: int = 9) -> None:
    """One image of a grid: no ticks or frame, [-1, 1] shown on [0, 1]; an empty cell when ``img`` is
    None; ``label`` beside it (the first column's row label)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    if img is not None:
        ax.imshow(to_display(img), cmap="gray", vmin=0, vmax=1)
    if label is not None:
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=fontsize)


def image_rows(rows: dict, title: str | None = None, scale: float = 1.1, col_titles=None):
    """A grid with one labelled row per entry of ``rows`` (label -> (N, C, H, W) in [-1, 1])."""
    import matplotlib.pyplot as plt
    n = max(v.shape[0] for v in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(scale * n, scale * len(rows)), squeeze=False)
    for r, (label, imgs) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r][c]
            _image_cell(ax, imgs[c] if c < imgs.shape[0] else None, label if c == 0 else None)
            if r == 0 and col_titles is not None and c < len(col_titles):
                ax.set_title(col_titles[c], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def grid_columns(n: int) -> int:
    """Columns for a grid of n images: the divisor of n nearest above sqrt(n), if there is one below
    2 sqrt(n) (full rows: 32 -> 8 x 4, 400 -> 20 x 20), else ceil(sqrt(n))."""
    if n < 1:
        raise ValueError(f"a grid needs at least one image, got {n}")
    root = math.sqrt(n)
    full = [d for d in range(math.ceil(root), math.floor(2 * root) + 1) if n % d == 0]
    return full[0] if full else math.ceil(root)


def grid(images: torch.Tensor, nrow: int | None = None, title: str | None = None, scale: float = 0.6):
    """One big grid of samples (Figure 21 style); ``nrow`` (images per row) defaults to
    ``grid_columns``."""
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid
    nrow = nrow or grid_columns(images.shape[0])
    g = make_grid(to_unit(images.cpu()), nrow=nrow, padding=1, pad_value=1.0)
    rows = (images.shape[0] + nrow - 1) // nrow
    fig, ax = plt.subplots(figsize=(scale * nrow, scale * rows))
    ax.imshow(g.permute(1, 2, 0).numpy())
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def metric_bars(df, title: str, columns=("Degraded", "Sampled", "Direct")):
    """FID / SSIM / RMSE bars per dataset and column, the paper's value for each bar as a black tick
    where it is known, FID on a log scale (so that 56.9 beside the paper's 4.69 stays readable), and
    the number of images and the profile in the title (a smoke run says it is plumbing)."""
    import matplotlib.pyplot as plt
    import numpy as np
    datasets = list(dict.fromkeys(df.dataset))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    w = 0.8 / len(columns)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, m in zip(axes, ("FID", "SSIM", "RMSE")):
        for j, col in enumerate(columns):
            xs = np.arange(len(datasets)) + (j - (len(columns) - 1) / 2) * w
            rows = [df[(df.dataset == d) & (df.column == col)] for d in datasets]
            vals = [float(r[m].iloc[0]) if len(r) else np.nan for r in rows]
            ax.bar(xs, vals, w, label=col, color=colors[j % len(colors)])
            if f"paper {m}" in df:
                ref = [float(r[f"paper {m}"].iloc[0]) if len(r) else np.nan for r in rows]
                ax.scatter(xs, ref, marker="_", s=400, color="black", linewidths=2.5, zorder=3,
                           label="the paper" if j == 0 else None)
        if m == "FID":
            ax.set_yscale("log")
        ax.set_xticks(range(len(datasets)), datasets, fontsize=7)
        ax.set_title(f"{m} ({'lower' if m != 'SSIM' else 'higher'} is better{', log scale' if m == 'FID' else ''})")
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:                       # the paper's tick may appear on another metric only
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5))
    per = {d: sorted({int(n) for n in df[df.dataset == d].N.dropna()}) for d in datasets} if "N" in df else {}
    if len({tuple(v) for v in per.values()}) == 1:
        about = f"N = {', '.join(f'{n:,}' for n in next(iter(per.values())))} test images per row"
    else:
        about = "; ".join(f"{d}: N = {', '.join(f'{n:,}' for n in v)}" for d, v in per.items() if v)
    if "profile" in df and set(df.profile) == {"smoke"}:
        about += "; smoke profile: plumbing-scale models, not numbers to compare with the paper's"
    fig.suptitle(f"{title}\n{about}" if about else title)
    fig.tight_layout()
    return fig


def restoration_panels(panels: dict, title: str, scale: float = 0.9):
    """Side-by-side blocks, one per model: ``panels`` maps a block title to its rows (label -> (N, C,
    H, W) in [-1, 1], e.g. Original / Degraded / Sampled / Direct), all blocks with the same rows."""
    import matplotlib.pyplot as plt
    blocks = list(panels.items())
    labels = list(blocks[0][1])
    n = max(v.shape[0] for _, rows in blocks for v in rows.values())
    fig = plt.figure(figsize=(scale * n * len(blocks) + 1.2, scale * len(labels) + 0.9))
    subs = fig.subfigures(1, len(blocks), wspace=0.02)
    for sub, (name, rows) in zip(list(subs) if len(blocks) > 1 else [subs], blocks):
        axes = sub.subplots(len(labels), n, squeeze=False)
        for r, label in enumerate(labels):
            for c in range(n):
                img = rows[label][c] if c < rows[label].shape[0] else None
                _image_cell(axes[r][c], img, label if c == 0 else None, fontsize=8)
        sub.suptitle(name, fontsize=9)
    fig.suptitle(title, fontsize=10, y=1.06)
    return fig
