import pytest
import torch
import torch.nn.functional as F

from colddiff_lib.degradations import LinearShift
from colddiff_lib.tasks import build_degradation
from colddiff_lib.sampling import SAMPLERS, algorithm1, algorithm2, direct, estimated_noise, get_sampler

CASES = [("deblur", "cifar10", 3, 16), ("inpaint", "mnist", 1, 16), ("superres", "mnist", 1, 16),
         ("snow", "cifar10", 3, 16), ("decolor", "cifar10", 3, 16), ("hot", "celeba", 3, 16)]


@pytest.mark.parametrize("task,ds,c,size", CASES)
@pytest.mark.parametrize("name", ["direct", "algorithm1", "algorithm2"])
def test_exact_inverse_returns_x0(task, ds, c, size, name):
    D = build_degradation(task, ds, size, c, T=12 if task != "superres" else None)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(3, c, size, size, generator=g) * 2 - 1
    st = D.sample_state(3, g)
    R = lambda x, t: x0                                       # an oracle restoration operator
    out = SAMPLERS[name](R, D, D(x0, D.T, st), st)
    assert (out - x0).abs().max() < 1e-4


def test_estimated_noise_with_exact_inverse():
    D = build_degradation("hot", "celeba", 16, 3, T=20)
    x0 = torch.rand(2, 3, 16, 16) * 2 - 1
    z = D.sample_state(2, torch.Generator().manual_seed(0))
    assert (estimated_noise(lambda x, t: x0, D, D(x0, D.T, z), z) - x0).abs().max() < 1e-4


def test_algorithm2_is_exact_for_linear_degradation_algorithm1_is_not():
    """Section 3: for D(x, s) = x + s e, Algorithm 2 lands on D(x0, s-1) at every step, whatever R."""
    T = 10
    D = LinearShift(T, 1, 8, seed=3)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 1, 8, 8, generator=g)
    W = torch.randn(8, 8, generator=g)
    R = lambda x, t: torch.tanh(x @ W) + 0.1 * t.view(-1, 1, 1, 1)   # an arbitrary, wrong restorer
    for sampler, exact in ((algorithm2, True), (algorithm1, False)):
        errs = []
        cb = lambda d: errs.append(float((d["x"] - D(x0, d["s"] - 1)).abs().max()))
        sampler(R, D, D(x0, T), callback=cb)
        assert len(errs) == T
        assert (max(errs) < 1e-5) if exact else (min(errs) > 1e-2)


def literal_blur(img, sigmas, t):
    """t literal 11x11 Gaussian convolutions with reflect padding (the authors' loop)."""
    for s in sigmas[:t]:
        r = torch.arange(11, dtype=torch.float64) - 5
        k = torch.exp(-r ** 2 / (2 * s * s))
        k = (k[:, None] * k[None]) / k.sum() ** 2
        img = F.conv2d(F.pad(img, [5] * 4, mode="reflect"), k.float()[None, None].repeat(3, 1, 1, 1), groups=3)
    return img


def literal_algorithm2(R, sigmas, x, T):
    """Reference loop of Algorithm 2 with literal repeated convolutions."""
    for s in range(T, 0, -1):
        x0_hat = R(x, torch.full((x.shape[0],), s))
        x = x - literal_blur(x0_hat, sigmas, s) + literal_blur(x0_hat, sigmas, s - 1)
    return x


def literal_algorithm1(R, sigmas, x, T):
    """Reference loop of Algorithm 1: x_{s-1} = D(R(x_s, s), s-1), literal convolutions."""
    for s in range(T, 0, -1):
        x = literal_blur(R(x, torch.full((x.shape[0],), s)), sigmas, s - 1)
    return x


def dummy_R(x, t):
    """A fixed dummy model: a contraction plus a t-dependent shift."""
    return 0.9 * x + 0.001 * t.view(-1, 1, 1, 1).float()


def test_golden_full_loops():
    D = build_degradation("deblur", "cifar10", 16, 3, T=20)
    x0 = 0.8 * torch.linspace(-1, 1, 2 * 3 * 16 * 16).view(2, 3, 16, 16).sin() + 0.1
    xT = D(x0, D.T)
    out2 = algorithm2(dummy_R, D, xT)
    ref = literal_algorithm2(dummy_R, D.sigmas, xT, D.T)
    assert (out2 - ref).abs().max() < 1e-4
    out1, outd = algorithm1(dummy_R, D, xT), direct(dummy_R, D, xT)
    # independent references: Algorithm 1 by literal convolutions, Direct in closed form
    assert (out1 - literal_algorithm1(dummy_R, D.sigmas, xT, D.T)).abs().max() < 1e-4
    assert (outd - (0.9 * xT + 0.001 * D.T)).abs().max() < 1e-6
    # golden numbers (computed once with this implementation; guard against silent changes)
    assert float(out2.sum()) == pytest.approx(GOLDEN["alg2_sum"], abs=1e-3)
    assert float(out2.abs().mean()) == pytest.approx(GOLDEN["alg2_absmean"], abs=1e-5)
    assert float(out1.sum()) == pytest.approx(GOLDEN["alg1_sum"], abs=1e-3)
    assert float(outd.sum()) == pytest.approx(GOLDEN["direct_sum"], abs=1e-3)


GOLDEN = {'alg2_sum': 153.6, 'alg2_absmean': 0.374091, 'alg1_sum': 116.2518, 'direct_sum': 168.96}


def test_callback_trajectory_and_bad_args():
    D = build_degradation("deblur", "mnist", 16, 1, T=5)
    seen = []
    algorithm2(dummy_R, D, torch.zeros(1, 1, 16, 16), callback=lambda d: seen.append(d["s"]))
    assert seen == [5, 4, 3, 2, 1]
    seen.clear()
    algorithm1(dummy_R, D, torch.zeros(1, 1, 16, 16), t_start=3, callback=lambda d: seen.append(d["s"]))
    assert seen == [3, 2, 1]
    with pytest.raises(ValueError, match="t_start out of range: must be in 1..5"):
        algorithm2(dummy_R, D, torch.zeros(1, 1, 16, 16), t_start=9)
    with pytest.raises(ValueError, match=r"t_start out of range: must be in 1..5 \(the degradation's T\), got 999"):
        direct(dummy_R, D, torch.zeros(1, 1, 16, 16), t_start=999)
    with pytest.raises(ValueError, match="t_start must be an integer in 1..5, got 2.5"):
        algorithm1(dummy_R, D, torch.zeros(1, 1, 16, 16), t_start=2.5)
    with pytest.raises(ValueError, match="unknown sampler 'alg3'; valid samplers"):
        get_sampler("alg3")
    with pytest.raises(TypeError, match="Mixing degradation"):
        estimated_noise(dummy_R, D, torch.zeros(1, 1, 16, 16))


def test_batched_is_one_call_in_chunks_with_one_bar_over_the_images(monkeypatch, capsys):
    """``batched`` gives the one-call result (Algorithm 2 is per image) and, asked for progress,
    one bar counting images, not a bar per chunk; under CI the bar stays off."""
    from colddiff_lib.sampling import batched
    D = build_degradation("inpaint", "mnist", 16, 1, T=6)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(10, 1, 16, 16, generator=g) * 2 - 1
    st = D.sample_state(10, g)
    x_t = D(x0, D.T, st)
    monkeypatch.delenv("CI", raising=False)
    out = batched(algorithm2, dummy_R, D, x_t, st, batch_size=4, progress=True)
    assert torch.allclose(out, algorithm2(dummy_R, D, x_t, st), atol=1e-6)
    err = capsys.readouterr().err
    assert "algorithm2" in err and "10/10" in err and "/6" not in err   # images, not steps
    batched(algorithm2, dummy_R, D, x_t, st, batch_size=4)                # progress off by default
    monkeypatch.setenv("CI", "true")
    batched(algorithm2, dummy_R, D, x_t, st, batch_size=4, progress=True)  # and off under CI
    assert capsys.readouterr().err == ""


def test_evaluation_progress_follows_the_config(monkeypatch, capsys):
    """The table evaluation (degrade_and_restore) shows its Algorithm 2 bar when the config's
    ``progress`` is on and it is not overridden (it was silent for 1.5 h of a CPU table before)."""
    from colddiff_lib import experiments
    from colddiff_lib.config import get_config
    from colddiff_lib.tasks import build_model
    cfg = get_config("smoke", task="inpaint", dataset="mnist")
    model = build_model(cfg, 1).eval().requires_grad_(False)
    monkeypatch.delenv("CI", raising=False)
    experiments.degrade_and_restore(cfg.replace(progress=False), model, 3)
    assert "algorithm2" not in capsys.readouterr().err
    experiments.degrade_and_restore(cfg.replace(progress=True), model, 3)
    assert "algorithm2" in capsys.readouterr().err
    experiments.degrade_and_restore(cfg.replace(progress=True), model, 3, progress=False)
    assert "algorithm2" not in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# strided sampling (beyond the paper): x_{s-k} = x_s - D(x0_hat, s) + D(x0_hat, s-k)
# --------------------------------------------------------------------------------------------
def _literal_strided_algorithm2(R, D, x, k, state=None):
    """The stride written out by hand: levels T, T-k, ..., down to 0."""
    levels = list(range(D.T, 0, -k)) + [0]
    for s, s2 in zip(levels, levels[1:]):
        t = torch.full((x.shape[0],), s)
        x0_hat = R(x, t)
        x = x - D(x0_hat, s, state) + D(x0_hat, s2, state)
    return x


@pytest.mark.parametrize("k", [1, 3, 7, 20, 50])
def test_strided_algorithm2_is_exact_for_a_linear_degradation_whatever_r(k):
    """For D(x, s) = x + s e the stride keeps the cancellation: every visited iterate is D(x0, s-k)
    exactly (closed form), with an arbitrary wrong R, and R is called ceil(T / k) times."""
    D = LinearShift(20, 1, 8, seed=1)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 1, 8, 8, generator=g, dtype=torch.float64)
    W = torch.randn(8, 8, generator=g, dtype=torch.float64)
    calls = []
    R = lambda x, t: (calls.append(int(t[0])), torch.tanh(x @ W))[1]          # noqa: E731
    seen = []
    out = algorithm2(R, D, D(x0, 20), stride=k, callback=lambda d: seen.append(d))
    levels = list(range(20, 0, -k)) + [0]
    assert calls == levels[:-1] and len(calls) == -(-20 // k)
    for d, s_next in zip(seen, levels[1:]):
        assert torch.allclose(d["x"], D(x0, s_next), atol=1e-12)
    assert torch.allclose(out, x0, atol=1e-12)


def test_stride_one_is_the_papers_algorithm2_and_a_stride_matches_the_literal_loop():
    D = build_degradation("deblur", "mnist", 32, 1)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 32, 32, generator=g) * 2 - 1
    R = lambda x, t: torch.tanh(1.3 * x + 0.01 * t.view(-1, 1, 1, 1))          # noqa: E731
    xT = D(x, D.T)
    plain = []
    algorithm2(R, D, xT, callback=lambda d: plain.append(d["x"]))
    assert torch.equal(algorithm2(R, D, xT, stride=1), plain[-1]) and len(plain) == D.T
    assert torch.allclose(algorithm2(R, D, xT, stride=6), _literal_strided_algorithm2(R, D, xT, 6), atol=1e-6)


@pytest.mark.parametrize("k", [1, 5, 40])
def test_strided_estimated_noise_with_the_exact_inverse_returns_x0(k):
    D = build_degradation("hot", "mnist", 32, 1)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(2, 1, 32, 32, generator=g) * 2 - 1
    z = D.sample_state(2, g)
    oracle = lambda x, t: x0                                                       # noqa: E731
    out = estimated_noise(oracle, D, D(x0, D.T, z), z, stride=k)
    assert torch.allclose(out, x0, atol=1e-4)


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "3"])
def test_stride_must_be_a_positive_integer(bad):
    D = LinearShift(5, 1, 8)
    with pytest.raises(ValueError, match=r"stride must be a positive integer \(1 = every level, the paper's sampler\)"):
        algorithm2(lambda x, t: x, D, torch.zeros(1, 1, 8, 8), stride=bad)
