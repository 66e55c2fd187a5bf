"""Restore or degrade your own images, from the API or the command line.

    python -m colddiff_lib restore photo.png out.png --model deblur-mnist --sampler algorithm2
    python -m colddiff_lib restore scans/ restored/ --model inpaint-mnist      # a folder
    python -m colddiff_lib restore photo.png out.png --model inpaint-mnist --stride 5   # 10 steps, not 50
    python -m colddiff_lib degrade digit.png blurred.png --task deblur --t 10

    from colddiff_lib.restore import restore_files, degrade_files

Images of any size and mode are converted to what the model needs, and every conversion is
reported in a note: the mode (grey or RGB), a centre crop to a square, a resize to the model's size,
and for digit models (MNIST, white on black) an inversion of dark-on-light images (undone on the
way out).  ``t`` is the degradation level the input is taken to be at (default: T, fully degraded).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import pretrained
from .common import channels_last_array, progress_enabled, state_to, to_uint8
from .config import get_config
from .io import atomic_write
from .precision import restorer
from .sampling import SAMPLERS, get_sampler, start_level
from .tasks import family, get_task, make_degradation

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


def _pixels(im, path: Path) -> tuple[np.ndarray, list]:
    """Any PIL image -> (float array in [0, 1], H x W or H x W x 3, notes), without losing its range:
    16-bit and 32-bit integer images are scaled by their full range (PIL's convert('L') clips them to
    white), float images must be in [0, 1] or [0, 255], transparency is laid over a background that
    contrasts with the opaque pixels (a black digit on a transparent page stays a black digit), and a
    phone photo's EXIF orientation is applied."""
    from PIL import ImageOps
    notes = []
    if im.getexif().get(0x0112, 1) != 1:                 # 0x0112: EXIF Orientation; 1 is upright
        im = ImageOps.exif_transpose(im)
        notes.append("EXIF orientation applied")
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im).astype(np.float64)
        if a.min() < 0:
            raise ImageInputError(f"{path} is a signed {mode} image with negative values; save it as 8- or 16-bit")
        full = 65535.0 if mode.startswith("I;16") or a.max() <= 65535 else float(2**32 - 1)
        return (a / full).astype(np.float32), [f"mode {mode} ({'16' if full == 65535 else '32'}-bit) -> grey, "
                                                f"scaled by {full:.0f}"]
    if mode == "F":
        a = np.asarray(im).astype(np.float64)
        if not np.isfinite(a).all():
            raise ImageInputError(f"{path} is a float image with NaN or infinite pixels; clean it first")
        lo, hi = float(a.min()), float(a.max())
        if lo >= 0 and hi <= 1:
            return a.astype(np.float32), ["mode F (float, 0..1) -> grey"]
        if lo >= 0 and hi <= 255:
            return (a / 255).astype(np.float32), ["mode F (float, 0..255) -> grey, scaled by 255"]
        raise ImageInputError(f"{path} is a float image with values in [{lo:g}, {hi:g}]; save it scaled to "
                              "0..1 or 0..255 (or as an 8-bit PNG)")
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = np.asarray(im.convert("RGBA")).astype(np.float32) / 255
        alpha = rgba[..., 3:]
        if float(alpha.min()) < 1:
            solid = alpha[..., 0] > 0.5
            lum = rgba[..., :3].mean(-1)
            bg = 1.0 if (solid.any() and float(lum[solid].mean()) < 0.5) else 0.0
            rgb = rgba[..., :3] * alpha + bg * (1 - alpha)
            notes.append(f"transparency laid over {'white' if bg else 'black'} (contrasting with the image)")
        else:
            rgb = rgba[..., :3]
        return rgb, [f"mode {mode} -> RGB"] + notes
    if im.mode not in ("L", "RGB"):
        notes.append(f"mode {im.mode} -> RGB")
        im = im.convert("RGB")
    return np.asarray(im).astype(np.float32) / 255, notes


def load_image(path: str | Path, channels: int, size: int, digits: bool = False) -> Prepared:
    """Read any image PIL can read and convert it for a model of ``channels`` x ``size`` x ``size``."""
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            a, notes = _pixels(im, path)
    except (UnidentifiedImageError, OSError) as e:
        raise ImageInputError(f"cannot read {path} as an image ({type(e).__name__}); give a PNG or JPEG file") from None
    if a.ndim == 3 and channels == 1:
        a = a @ np.array([0.299, 0.587, 0.114], dtype=np.float32)       # ITU-R 601 luma, as PIL's 'L'
        notes.append("RGB -> grey")
    elif a.ndim == 2 and channels == 3:
        a = np.repeat(a[..., None], 3, axis=-1)
        notes.append("grey -> RGB")
    h, w = a.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(a))
    x = x[None] if x.dim() == 2 else x.permute(2, 0, 1)                 # (C, H, W) in [0, 1]
    if w != h:
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        x = x[:, top:top + s, left:left + s]
        notes.append(f"centre crop {w}x{h} -> {s}x{s}")
    if x.shape[-1] != size:
        notes.append(f"resize {x.shape[-1]}x{x.shape[-2]} -> {size}x{size}")
        x = torch.nn.functional.interpolate(x[None], size=(size, size), mode="bicubic", align_corners=False,
                                            antialias=True)[0].clamp(0, 1)
    x = (x * 2 - 1)[None]
    inverted = False
    if digits and float(x.mean()) > 0:
        x, inverted = -x, True
        notes.append("dark-on-light -> inverted to white-on-black (MNIST), and back on output")
    return Prepared(x.contiguous(), notes, inverted)


def save_image(x: torch.Tensor, path: str | Path, invert: bool = False) -> Path:
    """Write a (1 or 3, H, W) [-1, 1] image (atomically) in the format its extension names
    (.png, .jpg, .bmp, .tif, .webp, .gif)."""
    from PIL import Image
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ImageInputError(f"cannot tell the image format of {path}; end the name with one of "
                              f"{', '.join(IMAGE_SUFFIXES)}")
    if invert:
        x = -x
    img = Image.fromarray(channels_last_array(to_uint8(x)))

    def write(f):
        img.save(f, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return atomic_write(path, write)


def _blocking_file(folder: Path) -> Path | None:
    """The first existing plain file among ``folder`` and its parents (a folder cannot be made there)."""
    for p in [folder, *folder.parents]:
        if p.exists():
            return None if p.is_dir() else p
    return None


def _outputs(inputs: list[Path], output: str | Path) -> list[Path]:
    """Where each input's result goes; refuses anything that would overwrite an input, write two
    results to one file, or need a folder where a file is."""
    out = Path(output)
    single = len(inputs) == 1 and out.suffix.lower() in IMAGE_SUFFIXES and not out.is_dir()
    if not single and out.suffix.lower() in IMAGE_SUFFIXES and not out.is_dir():
        raise ImageInputError(f"{len(inputs)} input images need an output folder, not the file {out}")
    if not single and out.exists() and not out.is_dir():
        raise ImageInputError(f"the output {out} is a file; {len(inputs)} input image(s) need an output folder: "
                              "give a folder path")
    folder = out.parent if single else out
    blocker = _blocking_file(folder)
    if blocker is not None:
        raise ImageInputError(f"cannot make the output folder {folder}: {blocker} is a file; give another output path")
    dsts = [out] if single else [out / (p.stem + ".png") for p in inputs]
    ins = {p.resolve(): p for p in inputs}
    if not single and any(p.parent.resolve() == out.resolve() for p in inputs):
        raise ImageInputError(f"the output folder {out} holds input images; write the results to another folder")
    seen = {}
    for src, dst in zip(inputs, dsts):
        if dst.resolve() in ins:
            raise ImageInputError(f"the output {dst} is the input {ins[dst.resolve()]}: it would be overwritten; "
                                  "give another output path")
        if dst.resolve() in seen:
            raise ImageInputError(f"{seen[dst.resolve()]} and {src} would both be written to {dst}; "
                                  "restore them into separate folders or rename one")
        seen[dst.resolve()] = src
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is not None and not os.access(existing, os.W_OK):
        raise ImageInputError(f"cannot write to {existing} (permission denied); give another output path")
    return dsts


def restore_files(inputs, output, model: str = "deblur-mnist", sampler: str = "algorithm2", t: int | None = None,
                  device=None, progress: bool | None = None, seed: int = 0, stride: int = 1) -> list[dict]:
    """Restore each input image with a named model; return one record per image (in, out, notes).

    ``stride=k`` (Algorithm 2 only, beyond the paper): visit every k-th level, t/k network calls
    instead of t; ``results/cpu/ablations/steps_mnist.md`` says what it costs in quality."""
    if sampler not in SAMPLERS or sampler == "estimated_noise":
        raise ValueError(f"unknown sampler {sampler!r} for restoration; valid samplers: direct, algorithm1, algorithm2")
    if stride != 1 and sampler != "algorithm2":
        raise ValueError(f"stride {stride} is for --sampler algorithm2 (the {sampler} sampler has no stride); "
                         "drop --stride or use --sampler algorithm2")
    spec = pretrained.get_spec(model)                                # an unknown name before anything else
    kind = get_task(spec.task).kind
    if kind != "restoration":
        usable = ", ".join(s.name for s in pretrained.SHIPPED if get_task(s.task).kind == "restoration")
        raise ValueError(f"model {model!r} is a {kind} model ({spec.task}): it draws new images from noise or a "
                         f"flat start, it does not restore yours; use a restoration model ({usable})")
    files = find_images(inputs)
    outs = _outputs(files, output)
    net, info = pretrained.load(model, device=device)
    cfg = info["config"]
    channels = info["channels"]                                      # as the checkpoint was trained
    D = make_degradation(cfg, channels)
    t = start_level(D, t, name="t", what=f"model {model}")
    R = restorer(net)                                                # R(x_s, s) -> x0_hat, in fp32
    fn = get_sampler(sampler)
    records = []
    g = torch.Generator().manual_seed(seed)
    for src, dst in tqdm(list(zip(files, outs)), desc=f"restore ({model})", disable=not progress_enabled(
            progress if progress is not None else len(files) > 1)):
        p = load_image(src, channels, cfg.image_size, digits=family(cfg.dataset) == "mnist")
        x = p.x.to(pretrained.device_of(net))
        state = D.sample_state(1, g)                                  # masks etc.: the model's own randomness
        state = state_to(state, x.device)
        x0_hat = fn(R, D, x, state, t_start=t, **({"stride": stride} if stride != 1 else {}))
        save_image(x0_hat[0], dst, invert=p.inverted)
        records.append({"input": str(src), "output": str(dst), "t": t, "sampler": sampler, "model": model,
                        "stride": stride, "notes": p.notes})
    return records


def degrade_files(inputs, output, task: str = "deblur", dataset: str = "mnist", t: int | None = None,
                  image_size: int = 32, seed: int = 0, progress: bool | None = None) -> list[dict]:
    """x_t = D(x0, t) for each input image, with the published schedule of (task, dataset)."""
    cfg = get_config("smoke", task=task, dataset=dataset, image_size=image_size)
    files = find_images(inputs)
    outs = _outputs(files, output)
    channels = 1 if family(dataset) == "mnist" else 3                # the published schedules' data: grey digits or colour
    D = make_degradation(cfg, channels)
    t = start_level(D, t, name="t", what=f"{task} on {dataset} (T = {D.T})")
    g = torch.Generator().manual_seed(seed)
    records = []
    for src, dst in tqdm(list(zip(files, outs)), desc=f"degrade ({task})",
                         disable=not progress_enabled(progress if progress is not None else len(files) > 1)):
        p = load_image(src, channels, image_size, digits=family(dataset) == "mnist")
        x_t = D(p.x, t, D.sample_state(1, g))                           # x_t = D(x0, t)
        save_image(x_t[0], dst, invert=p.inverted)
        records.append({"input": str(src), "output": str(dst), "t": t, "task": task, "notes": p.notes})
    return records
