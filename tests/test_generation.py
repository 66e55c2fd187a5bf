import pytest
import torch

from colddiff_lib.degradations import DegradationError
from colddiff_lib.tasks import build_degradation


def test_blur_gmm_prior_symmetry():
    D = build_degradation("blurgen", "celeba", 16, 3, T=20)
    g = torch.Generator().manual_seed(0)
    colours = torch.tensor([[0.5, -0.2, 0.1]]) + 0.05 * torch.randn(400, 3, generator=g)
    x = colours[:, :, None, None].expand(400, 3, 16, 16) + 0.1 * torch.randn(400, 3, 16, 16, generator=g)
    with pytest.raises(DegradationError, match="fit_prior"):
        D.prior(2)
    D.fit_prior(x)
    perfect, _ = D.prior(500, torch.Generator().manual_seed(1), noise_std=0.0)
    broken, _ = D.prior(500, torch.Generator().manual_seed(1), noise_std=0.002)
    assert torch.equal(perfect, perfect[..., :1, :1].expand_as(perfect))      # constant per channel
    assert abs(float((broken - perfect).std()) - 0.002) < 2e-4
    m = perfect[:, :, 0, 0].mean(0)
    assert torch.allclose(m, torch.tensor([0.5, -0.2, 0.1]), atol=0.02)


def test_solid_colour_and_lowres_and_noise_priors():
    g = torch.Generator().manual_seed(0)
    M = build_degradation("inpaintgen", "celeba", 16, 3, T=40)
    x, st = M.prior(8, g)
    assert x.min() >= -0.5 and x.max() <= 0.5 and torch.equal(x, st["colour"].expand_as(x))
    S = build_degradation("superresgen", "celeba", 32, 3)
    assert S.T == 4
    S.fit_prior(torch.rand(100, 3, 32, 32, generator=g) * 2 - 1)
    x, _ = S.prior(4, g)
    assert torch.equal(x, x[..., ::16, ::16].repeat_interleave(16, -1).repeat_interleave(16, -2))
    H = build_degradation("hot", "celeba", 16, 3)
    x, z = H.prior(1000, g)
    assert torch.equal(x, z) and abs(float(x.std()) - 1) < 0.01
    with pytest.raises(DegradationError, match="no generation prior"):
        build_degradation("deblur", "mnist", 32, 1).prior(2)


def test_fitted_prior_is_fitted_once_per_config_and_equals_a_fresh_fit(monkeypatch):
    from colddiff_lib import config, experiments, tasks
    cfg = config.get_config("smoke", task="blurgen", dataset="celeba-standin", T=10)
    loads = []
    real = experiments.load_data
    monkeypatch.setattr(experiments, "load_data", lambda c, split: loads.append(split) or real(c, split))
    experiments.fitted_degradation.cache_clear()
    D1 = experiments.fitted_degradation(cfg)
    D2 = experiments.fitted_degradation(cfg.replace(progress=True))
    assert D1 is D2 and loads == ["train"]                       # one load and fit per config
    assert experiments.fitted_degradation(cfg.replace(n_generate=7, results_dir="elsewhere")) is D1
    assert experiments.fitted_degradation(cfg.replace(T=12)) is not D1 and loads == ["train", "train"]
    # the cached prior draws exactly what a literal fresh fit draws
    train = tasks.load_data(cfg, "train")
    fresh = tasks.make_degradation(cfg, train.channels)
    fresh.fit_prior(train.all())
    for kw in ({"noise_std": 0.0}, {"noise_std": 0.002}):
        a, _ = D1.prior(16, torch.Generator().manual_seed(3), **kw)
        b, _ = fresh.prior(16, torch.Generator().manual_seed(3), **kw)
        assert torch.equal(a, b)
    experiments.fitted_degradation.cache_clear()
