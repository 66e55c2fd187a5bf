import math

import numpy as np
import pytest
import torch

from colddiff_lib import metrics as M, neighbours
from colddiff_lib.data import load_dataset, fixed_subset as subset_of


def test_both_fid_routes_give_the_same_features():
    """torch-fidelity with converted weights vs the TorchScript module as a feature extractor."""
    g = torch.Generator().manual_seed(0)
    u = torch.randint(0, 256, (6, 3, 32, 32), generator=g, dtype=torch.uint8)
    f1 = M.extract_features(u)
    cls = M.register_torchscript_extractor()
    f2 = M.extract_features(u, extractor=cls(M.TORCHSCRIPT_EXTRACTOR, [M.FEATURE]))
    assert f1.shape == (6, 2048)
    assert float((f1 - f2).abs().max()) <= 1e-4
    assert float(f1.abs().mean()) > 0.05          # not a degenerate all-zero extractor


def test_fast_path_equals_torch_fidelity_path():
    g = torch.Generator().manual_seed(1)
    u = torch.randint(0, 256, (5, 3, 48, 40), generator=g, dtype=torch.uint8)
    slow = M.extract_features(u, extractor=M.inception())
    fast = M.extract_features(u)
    assert float((slow - fast).abs().max()) <= 1e-4


def test_fid_sanity_mnist_vs_noise():
    tr = subset_of(load_dataset("mnist", "train", image_size=32, root="/nonexistent-colddiff"), 500, seed=0)
    te = M.reference_features(load_dataset("mnist", "test", image_size=32, root="/nonexistent-colddiff"), 500)
    f_tr = M.extract_features(tr.all())
    # 100 noise images are plenty to be far away (each Inception pass costs ~0.1 s here)
    noise = torch.rand(100, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    f_noise = M.extract_features(noise)
    fid_real = M.fid_from_features(f_tr, te)
    fid_noise = M.fid_from_features(f_noise, te)
    assert fid_real < 20 and fid_noise > 200 and fid_noise > 10 * fid_real
    kid_real, _ = M.kid_from_features(f_tr, te, subsets=10, subset_size=100)
    kid_noise, _ = M.kid_from_features(f_noise, te, subsets=10, subset_size=100)
    assert kid_real < kid_noise


@pytest.mark.parametrize("n1,n2", [(120, 90)])
def test_fast_fid_formula_equals_torch_fidelity(n1, n2):
    g = torch.Generator().manual_seed(n1)
    base = torch.randn(2048, 2048, generator=g, dtype=torch.float64) / 40
    f1 = torch.randn(n1, 2048, generator=g, dtype=torch.float64) @ base + 0.3
    f2 = torch.randn(n2, 2048, generator=g, dtype=torch.float64) @ base
    ref = M.fid_torch_fidelity(f1, f2)
    assert M.fid_from_features(f1, f2) == pytest.approx(ref, rel=1e-6)


def test_reference_features_are_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(M, "CACHE_DIR", tmp_path)
    ds = load_dataset("celeba-standin", "test", image_size=32)
    a = M.reference_features(ds, 5)
    files = list((tmp_path / "fid-stats").glob("*.pt"))
    assert len(files) == 1 and "celeba-standin-test-5-32-0-" in files[0].name
    calls = []
    monkeypatch.setattr(M, "extract_features", lambda *a, **k: calls.append(1))
    b = M.reference_features(ds, 5)
    assert not calls and torch.equal(a, b)


def test_ssim_matches_skimage_and_closed_form():
    from skimage.metrics import structural_similarity
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 1, 32, 32, generator=g) * 2 - 1
    b = (a + 0.3 * torch.randn(1, 1, 32, 32, generator=g)).clamp(-1, 1)
    ref = structural_similarity(((a + 1) / 2)[0, 0].numpy().astype(np.float64), ((b + 1) / 2)[0, 0].numpy().astype(np.float64),
                                data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, win_size=11)
    assert abs(M.ssim(a, b) - ref) < 1e-3
    assert M.ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    # constant images: only the luminance term remains, (2 m1 m2 + C1) / (m1^2 + m2^2 + C1)
    m1, m2, c1 = 0.25, 0.75, 0.01 ** 2
    x, y = torch.full((1, 1, 16, 16), m1 * 2 - 1), torch.full((1, 1, 16, 16), m2 * 2 - 1)
    assert M.ssim(x, y) == pytest.approx((2 * m1 * m2 + c1) / (m1 ** 2 + m2 ** 2 + c1), abs=2e-4)  # float32


def test_rmse_by_hand():
    a = torch.full((2, 1, 4, 4), -1.0)
    b = a.clone()
    assert M.rmse(a, b) == 0
    b[0] = 1.0                                   # half the pixels differ by 1 in [0, 1]
    assert M.rmse(a, b) == pytest.approx(math.sqrt(0.5))
    b = torch.full_like(a, 0.0)                  # every pixel off by 0.5
    assert M.rmse(a, b) == pytest.approx(0.5)
    with pytest.raises(M.MetricsError, match="shape mismatch"):
        M.rmse(a, b[:1])


def test_nearest_neighbour_labels_literal_and_on_mnist():
    from colddiff_lib.data import load_dataset
    from colddiff_lib.metrics import MetricsError
    from colddiff_lib.neighbours import nearest_neighbour_labels
    g = torch.Generator().manual_seed(0)
    ref, x = torch.randn(50, 1, 4, 4, generator=g), torch.randn(7, 1, 4, 4, generator=g)
    lab = torch.randint(0, 5, (50,), generator=g)
    literal = torch.stack([lab[((ref - xi) ** 2).flatten(1).sum(1).argmin()] for xi in x])
    assert torch.equal(nearest_neighbour_labels(x, ref, lab, chunk=3), literal)
    # the classic number: 1-NN on MNIST pixels is ~97% accurate; here 2000 test digits vs 20k train
    tr = load_dataset("mnist", "train", image_size=32, root="/nonexistent-colddiff")
    te = load_dataset("mnist", "test", image_size=32, root="/nonexistent-colddiff")
    acc = (nearest_neighbour_labels(te.batch(torch.arange(2000)), tr.batch(torch.arange(20000), augment=False),
                                    tr.labels[:20000]) == te.labels[:2000]).float().mean()
    assert 0.93 < acc < 0.99
    with pytest.raises(MetricsError, match="shape mismatch"):
        nearest_neighbour_labels(torch.zeros(1, 1, 8, 8), ref, lab)


def test_nearest_sample_distance_is_the_literal_nearest_other_image():
    g = torch.Generator().manual_seed(4)
    x = torch.rand(7, 2, 3, 3, generator=g) * 2 - 1
    x[5] = x[2]                                                   # a copy: distance 0 for both
    want = []
    for i in range(len(x)):
        want.append(min(float(((x[i] - x[j]).abs() / 2).mean()) for j in range(len(x)) if j != i))
    got = neighbours.nearest_sample_distance(x)
    assert got.tolist() == pytest.approx(want, abs=1e-7)
    assert got[2] == 0 and got[5] == 0 and bool((got[[0, 1, 3, 4, 6]] > 0.05).all())
    u8 = torch.tensor([[[[0, 255]]], [[[255, 255]]], [[[0, 0]]]], dtype=torch.uint8)
    assert neighbours.nearest_sample_distance(u8).tolist() == pytest.approx([0.5, 0.5, 0.5])   # uint8 read as [0, 1]
    with pytest.raises(M.MetricsError, match="at least 2 images"):
        neighbours.nearest_sample_distance(x[:1])


def test_fid_bootstrap_spread_is_zero_for_one_set_and_the_spread_of_the_literal_resamples():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(300, 8, generator=g, dtype=torch.float64)
    other = f + 0.3 * torch.randn(300, 8, generator=g, dtype=torch.float64)
    assert M.fid_bootstrap_sd(f, f, 4) < 1e-6                      # paired resamples of one set: FID 0 each time
    # the same draws written out: paired indices for equal lengths
    r = torch.Generator().manual_seed(5)
    fids = []
    for _ in range(4):
        i = torch.randint(300, (300,), generator=r)
        fids.append(M.fid_from_features(f[i], other[i]))
    assert abs(M.fid_bootstrap_sd(f, other, 4, seed=5) - float(torch.tensor(fids, dtype=torch.float64).std())) < 1e-9
    with pytest.raises(ValueError, match="at least 2 resamples"):
        M.fid_bootstrap_sd(f, other, 1)
