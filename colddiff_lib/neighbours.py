"""Nearest neighbours in pixel space: which training image an output is closest to, what class a
digit reads as (a 1-NN vote among the training digits), and how far each sample of a set is from the
nearest other one (a collapse check).  Model-free judges beside the metrics of :mod:`metrics`."""
from __future__ import annotations

import torch

from .common import to_unit
from .metrics import MetricsError, check_images


def nearest_indices(x: torch.Tensor, ref: torch.Tensor, k: int = 1, chunk: int = 256) -> torch.Tensor:
    """Indices (N, k) of the ``k`` nearest images of ``ref`` to each image of ``x`` (Euclidean, pixel
    space, nearest first), computed chunk by chunk as |r|^2 - 2 x.r (the constant |x|^2 dropped),
    in float64 when either input is float64 (for differences far below the pixel values)."""
    if x.shape[1:] != ref.shape[1:]:
        raise MetricsError(f"shape mismatch: images {tuple(x.shape[1:])} vs references {tuple(ref.shape[1:])}")
    if not 1 <= k <= len(ref):
        raise MetricsError(f"need 1 <= k <= {len(ref)} (the number of references), got k={k}")
    dtype = torch.float64 if torch.float64 in (x.dtype, ref.dtype) else torch.float32
    r = ref.flatten(1).to(dtype)
    c = r.mean(0, keepdim=True)              # centred first: the same argmin, less cancellation
    r = r - c
    r2 = (r * r).sum(1)
    out = []
    for xs in (x.flatten(1).to(dtype) - c).split(chunk):
        d = r2[None] - 2 * xs @ r.T          # |x - r|^2 up to the constant |x|^2
        out.append(d.topk(k, dim=1, largest=False).indices)
    return torch.cat(out)


def nearest_neighbour_labels(x: torch.Tensor, ref: torch.Tensor, ref_labels: torch.Tensor, k: int = 1,
                             chunk: int = 256) -> torch.Tensor:
    """Labels of ``x`` by a k-nearest-neighbour vote (Euclidean, pixel space) among ``ref``.

    A plain, model-free judge of class fidelity for generated digits: against MNIST's 60k
    training digits 1-NN classifies the test set at about 96-97% (the classic result; 96.1% on the
    first 2000 test digits at 32x32), so "a sample of class c is labelled c" is a fair check that
    it reads as a c."""
    if len(ref_labels) != len(ref):
        raise MetricsError(f"need one label per reference, got {len(ref_labels)} labels for {len(ref)} references")
    nn_idx = nearest_indices(x, ref, k=k, chunk=chunk)
    n_classes = int(ref_labels.max()) + 1
    votes = torch.nn.functional.one_hot(ref_labels[nn_idx].long(), n_classes).sum(1)
    return votes.argmax(1)                    # ties: the smallest label


def nearest_sample_distance(x: torch.Tensor) -> torch.Tensor:
    """For each image of a set, the mean absolute pixel difference (on [0, 1]) to the nearest
    *other* image of the same set: a check for collapse (a median near 0 means repeated samples).
    ``x``: uint8 images or [-1, 1] floats, (N, C, H, W) with N >= 2."""
    check_images(x, "images for nearest_sample_distance", allow_uint8=True)
    if x.shape[0] < 2:
        raise MetricsError(f"need a set of at least 2 images (N, C, H, W), got shape {tuple(x.shape)}")
    u = x.double() / 255 if x.dtype == torch.uint8 else to_unit(x).double()
    flat = u.flatten(1)
    d = torch.cdist(flat, flat, p=1) / flat.shape[1]
    d.fill_diagonal_(float("inf"))
    return d.min(dim=1).values
