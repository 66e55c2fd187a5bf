"""Restore or degrade your own images, from the API or the command line.

    python -m colddiff_lib restore photo.png out.png --model deblur-mnist --sampler algorithm2
    python -m colddiff_lib restore scans/ restored/ --model inpaint-mnist      # a folder
    python -m colddiff_lib degrade digit.png blurred.png --task deblur --t 10

    from colddiff_lib.restore import restore_files, degrade_files

Images of any size and mode are converted to what the model needs, and every conversion is
reported in a note: the mode (grey or RGB), a centre crop to a square, a resize to the model's size,
and for digit models (MNIST, white on black) an inversion of dark-on-light images (undone on the
way out).  ``t`` is the degradation level the input is taken to be at (default: T, fully degraded).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import pretrained
from .common import progress_enabled, state_to
from .config import get_config
from .io import atomic_write
from .sampling import SAMPLERS, get_sampler
from .tasks import make_degradation

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageInputError(ValueError):
    pass


@dataclass
class Prepared:
    x: torch.Tensor           # (1, C, S, S) in [-1, 1]
    notes: list
    inverted: bool


def find_images(inputs) -> list[Path]:
    """Files and folders (their images, sorted) -> a list of image files."""
    out = []
    for p in [Path(i) for i in ([inputs] if isinstance(inputs, (str, Path)) else inputs)]:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ImageInputError(f"folder {p} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise ImageInputError(f"no such file or folder: {p}")
    if not out:
        raise ImageInputError("no input images given")
    return out


def load_image(path: str | Path, channels: int, size: int, digits: bool = False) -> Prepared:
    """Read any image PIL can read and convert it for a model of ``channels`` x ``size`` x ``size``."""
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            img = im.convert("L" if channels == 1 else "RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise ImageInputError(f"cannot read {path} as an image ({type(e).__name__}); give a PNG or JPEG file") from None
    notes = []
    if mode not in ("L", "RGB"):
        notes.append(f"mode {mode} -> {'grey' if channels == 1 else 'RGB'}")
    elif (mode == "L") != (channels == 1):
        notes.append(f"{'RGB -> grey' if channels == 1 else 'grey -> RGB'}")
    w, h = img.size
    if w != h:
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        img = img.crop((left, top, left + s, top + s))
        notes.append(f"centre crop {w}x{h} -> {s}x{s}")
    if img.size[0] != size:
        notes.append(f"resize {img.size[0]}x{img.size[1]} -> {size}x{size}")
        img = img.resize((size, size), Image.BICUBIC)
    a = np.asarray(img, dtype=np.float32) / 127.5 - 1
    x = torch.from_numpy(a)[None, None] if channels == 1 else torch.from_numpy(a).permute(2, 0, 1)[None]
    inverted = False
    if digits and float(x.mean()) > 0:
        x, inverted = -x, True
        notes.append("dark-on-light -> inverted to white-on-black (MNIST), and back on output")
    return Prepared(x.contiguous(), notes, inverted)


def save_image(x: torch.Tensor, path: str | Path, invert: bool = False) -> Path:
    """Write a (1 or 3, H, W) [-1, 1] image as PNG (atomically)."""
    from PIL import Image
    if invert:
        x = -x
    a = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    a = a[0].numpy() if a.shape[0] == 1 else a.permute(1, 2, 0).numpy()
    img = Image.fromarray(a)
    path = Path(path)

    def write(f):
        img.save(f, format="PNG")
    return atomic_write(path, write)


def _outputs(inputs: list[Path], output: str | Path) -> list[Path]:
    out = Path(output)
    if len(inputs) == 1 and out.suffix.lower() in IMAGE_SUFFIXES:
        return [out]
    if out.suffix.lower() in IMAGE_SUFFIXES:
        raise ImageInputError(f"{len(inputs)} input images need an output folder, not the file {out}")
    return [out / (p.stem + ".png") for p in inputs]


def _check_t(t, T: int, what: str) -> int:
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) and not (isinstance(t, float) and t.is_integer()):
        raise ValueError(f"t must be an integer in 1..{T} for {what}, got {t!r}")
    if not 1 <= int(t) <= T:
        raise ValueError(f"t out of range: must be in 1..{T} for {what}, got {t}")
    return int(t)


def restore_files(inputs, output, model: str = "deblur-mnist", sampler: str = "algorithm2", t: int | None = None,
                  device=None, progress: bool | None = None, seed: int = 0) -> list[dict]:
    """Restore each input image with a named model; return one record per image (in, out, notes)."""
    if sampler not in SAMPLERS or sampler == "estimated_noise":
        raise ValueError(f"unknown sampler {sampler!r} for restoration; valid samplers: direct, algorithm1, algorithm2")
    pretrained.get_spec(model)                                       # an unknown name before anything else
    files = find_images(inputs)
    outs = _outputs(files, output)
    net, info = pretrained.load(model, device=device)
    cfg = info["config"]
    channels = 1 if "mnist" in cfg.dataset else 3
    D = make_degradation(cfg, channels)
    t = D.T if t is None else _check_t(t, D.T, f"model {model}")
    R = lambda x, s: net(x, s)                                       # noqa: E731  R(x_s, s) -> x0_hat
    fn = get_sampler(sampler)
    records = []
    g = torch.Generator().manual_seed(seed)
    for src, dst in tqdm(list(zip(files, outs)), desc=f"restore ({model})", disable=not progress_enabled(
            progress if progress is not None else len(files) > 1)):
        p = load_image(src, channels, cfg.image_size, digits="mnist" in cfg.dataset)
        x = p.x.to(pretrained.device_of(net))
        state = D.sample_state(1, g)                                  # masks etc.: the model's own randomness
        state = state_to(state, x.device)
        x0_hat = fn(R, D, x, state, t_start=t)
        save_image(x0_hat[0], dst, invert=p.inverted)
        records.append({"input": str(src), "output": str(dst), "t": t, "sampler": sampler, "model": model,
                        "notes": p.notes})
    return records


def degrade_files(inputs, output, task: str = "deblur", dataset: str = "mnist", t: int | None = None,
                  image_size: int = 32, seed: int = 0, progress: bool | None = None) -> list[dict]:
    """x_t = D(x0, t) for each input image, with the published schedule of (task, dataset)."""
    cfg = get_config("smoke", task=task, dataset=dataset, image_size=image_size)
    files = find_images(inputs)
    outs = _outputs(files, output)
    channels = 1 if "mnist" in dataset else 3
    D = make_degradation(cfg, channels)
    t = D.T if t is None else _check_t(t, D.T, f"{task} on {dataset} (T = {D.T})")
    g = torch.Generator().manual_seed(seed)
    records = []
    for src, dst in tqdm(list(zip(files, outs)), desc=f"degrade ({task})",
                         disable=not progress_enabled(progress if progress is not None else len(files) > 1)):
        p = load_image(src, channels, image_size, digits="mnist" in dataset)
        x_t = D(p.x, t, D.sample_state(1, g))                           # x_t = D(x0, t)
        save_image(x_t[0], dst, invert=p.inverted)
        records.append({"input": str(src), "output": str(dst), "t": t, "task": task, "notes": p.notes})
    return records
