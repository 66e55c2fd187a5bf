"""Model cards: what each shipped model is, written beside its weights (``<file>.md``): what it was
trained on and for how long, its measured metrics (read from the committed tables) and its limits.
Sections a card's author adds by hand (``## How it was trained``) survive a rewrite."""
from __future__ import annotations

import re
from pathlib import Path

from .config import real_dataset
from .data import load_dataset
from .io import atomic_write_text
from .paths import REPO_ROOT
from .pretrained import SHIPPED, ModelSpec, table_metrics
from .tasks import get_task
from .trainer import load_checkpoint

UNKNOWN_SOURCE = "(dataset not available here)"
NOT_MEASURED = "No table row has been measured for this exact model yet."
# what the images of a real dataset look like, for a card's limits (grey ones are shown white on black)
LOOKS = {"mnist": "grey digits, white on black", "fashion-mnist": "grey clothes and shoes, light on black"}


def _looks(dataset: str, channels: int) -> str:
    if dataset in LOOKS and channels == 1:
        return LOOKS[dataset] + " (a dark-on-light image is inverted first, and back after)."
    return "images like its training set."


def card_text(spec: ModelSpec) -> str:
    cfg = spec.config()
    ck = load_checkpoint(spec.weights(), cfg)
    m = table_metrics(spec)
    try:
        source = load_dataset(spec.dataset, "test", image_size=cfg.image_size).source
    except Exception:
        source = UNKNOWN_SOURCE
    lines = [f"# Model card: `{spec.name}`", "",
             f"{spec.note}.", "",
             "| field | value |", "|---|---|",
             f"| profile / task / dataset | `{spec.profile}` / `{spec.task}` / `{spec.dataset}`"
             + (f" (tag `{spec.tag}`)" if spec.tag else "") + " |",
             f"| trained on | {spec.dataset} train split ({source.replace('|', '/')}), {cfg.image_size}x{cfg.image_size}, "
             f"horizontal flips: {'yes' if cfg.hflip else 'no'} |",
             f"| network | U-Net dim {cfg.unet_dim}, mults {cfg.dim_mults}, "
             f"{sum(v.numel() for v in ck['ema'].values()) / 1e6:.2f}M parameters; EMA weights in fp16 |",
             f"| training | {ck['step']} steps, batch {cfg.batch_size} x {cfg.grad_accum}, Adam lr {cfg.lr}"
             + (f" falling linearly to 0 over steps {cfg.lr_decay_start}-{cfg.lr_decay_end}" if cfg.lr_decay_end else "")
             + ", "
             f"EMA {cfg.ema_decay}, {'bf16 autocast' if cfg.bf16 else 'fp32'}, "
             f"{ck.get('wall_s', float('nan')) / 60:.0f} min of training on the machine that trained it |",
             f"| config hash | `{cfg.hash}` (checked on load) |",
             f"| weights | `{spec.weights().relative_to(REPO_ROOT) if spec.weights().is_relative_to(REPO_ROOT) else spec.weights()}` |"]
    generative = get_task(spec.task).kind == "generation"
    if m and generative:
        lines += ["", f"Measured on {m.get('N')} generated samples per variant, FID against as many MNIST test "
                  f"images (table 5 of `results/{spec.profile}/tables/`):", "",
                  "| variant | FID |", "|---|---|"]
        lines += [f"| {k.removesuffix(' FID')} | {v:.2f} |" for k, v in m.items() if k.endswith(" FID")]
    elif m:
        lines += ["", f"Measured on {m.get('N')} held-out test images (table {get_task(spec.task).table[0]} of "
                  f"`results/{spec.profile}/tables/`):", "",
                  "| column | FID | SSIM | RMSE |", "|---|---|---|---|"]
        for col in ("Sampled", "Direct"):
            if f"{col} FID" in m:
                lines.append(f"| {col} | {m[f'{col} FID']:.2f} | {m[f'{col} SSIM']:.3f} | {m[f'{col} RMSE']:.4f} |")
    else:
        lines += ["", NOT_MEASURED]
    if generative:
        limits = [f"- It generates {spec.dataset} images from this project's fully degraded `{spec.task}` states "
                  "(experiments.generate); it is not a restorer of arbitrary inputs.",
                  f"- {cfg.train_steps} steps of a small U-Net: digits are recognisable but not of the paper's quality; "
                  "FID at a few hundred samples is biased upwards, so compare variants at equal N only."]
    else:
        limits = [f"- It restores images degraded by this project's `{spec.task}` operator with the {spec.dataset} "
                  "schedule; other blurs, masks or resolutions are outside what it saw.",
                  f"- It knows {spec.dataset} only: {cfg.image_size}x{cfg.image_size} {_looks(spec.dataset, ck['channels'])}",
                  "- From the fully degraded level (t = T) Direct can only return a conditional mean; Algorithm 2 "
                  "adds detail that is plausible, not necessarily the true image."]
        if real_dataset(spec.dataset) != spec.dataset:
            limits.append("- A STAND-IN: trained and measured on crops of a few bundled photographs (data.py), not on the "
                          "paper's dataset; its numbers show the method working, not the paper's values.")
        if spec.profile == "smoke":
            limits.append("- Smoke scale: trained for minutes, for CI and workshops; its outputs are blurry.")
    return "\n".join(lines + ["", "## Limits", "", *limits, ""])


def hand_sections(card: str) -> str:
    """The sections of an existing card written by hand (every ``## `` section but Limits, e.g. "How it
    was trained"), to be kept when the card is rewritten."""
    parts = re.split(r"(?m)^(?=## )", card)[1:]
    return "".join(p if p.endswith("\n\n") else p.rstrip("\n") + "\n\n" for p in parts if not p.startswith("## Limits"))


def _measured_block(card: str) -> str:
    """What a card says about its measurements: from after its field table to its first ``## ``."""
    head = re.split(r"(?m)^## ", card)[0]
    return head[head.index("| weights |"):].split("\n", 1)[1]


def merged_card(new: str, old: str) -> str:
    """``new`` (generated) with what only ``old`` knows kept: its hand-written sections, its
    measurements where no committed table holds a row for the model (e.g. a 1,000-image ablation
    quoted by hand), and its data source where the dataset is not installed on this machine."""
    if NOT_MEASURED in new and NOT_MEASURED not in old and "| weights |" in old:
        new = new.replace(_measured_block(new), _measured_block(old), 1)
    if UNKNOWN_SOURCE in new:
        was = re.search(r"(?m)^\| trained on \|.*$", old)
        if was and UNKNOWN_SOURCE not in was.group(0):
            new = re.sub(r"(?m)^\| trained on \|.*$", lambda _: was.group(0), new, count=1)
    return new.replace("## Limits", hand_sections(old) + "## Limits", 1)


def write_cards(names=None) -> list[Path]:
    """Write the card of every shipped model whose weights exist (or of ``names``).  Nothing a card
    says that this machine cannot regenerate is lost (:func:`merged_card`)."""
    out = []
    for s in SHIPPED:
        if (names is None or s.name in names) and s.weights().exists():
            text = card_text(s)
            if s.card().exists():
                text = merged_card(text, s.card().read_text())
            atomic_write_text(s.card(), text)
            out.append(s.card())
    return out
