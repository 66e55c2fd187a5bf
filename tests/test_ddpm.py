import pytest
import torch

from colddiff_lib import ddpm
from colddiff_lib.config import get_config


class Dummy(torch.nn.Module):
    """A fixed, pointwise (hence flip-equivariant) epsilon model with a class dependence."""

    def forward(self, x, t, y):
        return 0.5 * torch.tanh(x) + 0.01 * y.view(-1, 1, 1, 1).float() + 1e-4 * t.view(-1, 1, 1, 1).float()


@pytest.fixture
def sched():
    return ddpm.DDPMSchedule()


def test_cfg_gamma_one_is_conditional(sched):
    m, x = Dummy(), torch.randn(3, 1, 8, 8)
    eps_c = m(x, torch.full((3,), 500), torch.full((3,), 4))
    assert torch.equal(ddpm.cfg_eps(m, x, 500, 4, gamma=1.0), eps_c)
    eps_u = m(x, torch.full((3,), 500), torch.full((3,), ddpm.NULL))
    assert torch.allclose(ddpm.cfg_eps(m, x, 500, 4, gamma=3.0), eps_u + 3 * (eps_c - eps_u))


def test_cfg_gamma_zero_is_unconditional_in_one_pass():
    calls = []

    class Counting(Dummy):
        def forward(self, x, t, y):
            calls.append(y.clone())
            return super().forward(x, t, y)

    m, x = Counting(), torch.randn(3, 1, 8, 8)
    eps_u = Dummy()(x, torch.full((3,), 500), torch.full((3,), ddpm.NULL))
    # the literal formula eps_u + 0 (eps_c - eps_u), in the same precision
    eps_c = Dummy()(x, torch.full((3,), 500), torch.full((3,), 4))
    assert torch.equal(ddpm.cfg_eps(m, x, 500, 4, gamma=0.0), eps_u + 0.0 * (eps_c - eps_u))
    assert len(calls) == 1 and torch.equal(calls[0], torch.full((3,), ddpm.NULL))
    with pytest.raises(ddpm.DDPMError, match="unknown class 10"):
        ddpm.cfg_eps(m, x, 500, 10, gamma=0.0)      # a bad class is still refused


def test_anagram_with_same_class_reduces_to_plain_sampling(sched):
    m = Dummy()
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    ts = ddpm.strided_timesteps(999, 30)
    plain = ddpm.denoise(lambda x, t: ddpm.cfg_eps(m, x, t, 6), sched, x, ts, torch.Generator().manual_seed(1))
    ana = ddpm.denoise(lambda x, t: ddpm.anagram_eps(m, x, t, 6, 6), sched, x, ts, torch.Generator().manual_seed(1))
    assert torch.allclose(plain, ana, atol=1e-6)


def test_inpainting_keeps_known_pixels(sched):
    m = Dummy()
    x0 = torch.rand(1, 1, 8, 8) * 2 - 1
    mask = torch.zeros(8, 8)
    mask[2:5, 3:7] = 1
    checks = []

    def cb(d):
        known = (1 - d["mask"]) * d["known"]
        checks.append(float(((1 - d["mask"]) * d["x"] - known).abs().max()))

    out = ddpm.inpaint(m, sched, x0, mask, c=3, stride=50, generator=torch.Generator().manual_seed(0), callback=cb)
    assert len(checks) == len(ddpm.strided_timesteps(999, 50)) and max(checks[:-1]) < 1e-6
    assert out.shape == x0.shape


def test_strided_stride_one_matches_textbook_ddpm(sched):
    m = Dummy()
    xT = torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    a = ddpm.ddpm_plain(m, sched, xT, c=2, generator=torch.Generator().manual_seed(7))
    b = ddpm.denoise(lambda x, t: ddpm.cfg_eps(m, x, t, 2), sched, xT, ddpm.strided_timesteps(999, 1),
                    torch.Generator().manual_seed(7), clip=False)
    assert torch.allclose(a, b, atol=1e-4)
    assert float(a.sum()) == pytest.approx(GOLDEN_SUM, abs=1e-3)
    assert float(a.abs().mean()) == pytest.approx(GOLDEN_ABSMEAN, abs=1e-5)


GOLDEN_SUM, GOLDEN_ABSMEAN = -2336.5879, 70.441559


class Zero(torch.nn.Module):
    def forward(self, x, t, y):
        return torch.zeros_like(x)


def test_textbook_and_strided_ddpm_match_the_closed_form_for_a_zero_model(sched):
    """eps_theta = 0: each step divides by sqrt(alpha_t) and adds sigma_t z_t, so
    x_0 = x_T / sqrt(abar_{T-1}) + sum_{t=1}^{T-1} sigma_t z_t / sqrt(abar_{t-1}) (float64 reference)."""
    xT = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(5)
    ab, b = sched.abar, sched.betas
    ref = xT.double() / ab[-1].sqrt()
    for t in range(sched.T - 1, 0, -1):                          # the draws, in the samplers' order
        z = torch.randn(xT.shape, generator=g).double()
        sigma = ((1 - ab[t - 1]) / (1 - ab[t]) * b[t]).sqrt()
        ref = ref + sigma * z / ab[t - 1].sqrt()
    a = ddpm.ddpm_plain(Zero(), sched, xT, generator=torch.Generator().manual_seed(5))
    s = ddpm.denoise(lambda x, t: ddpm.cfg_eps(Zero(), x, t, None), sched, xT, ddpm.strided_timesteps(999, 1),
                     torch.Generator().manual_seed(5), clip=False)
    scale = float(ref.abs().max())
    assert float((a.double() - ref).abs().max()) < 1e-4 * scale
    assert float((s.double() - ref).abs().max()) < 1e-4 * scale


def test_one_step_denoising_inverts_forward(sched):
    x0, eps = torch.rand(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    xt = sched.forward(x0, 750, eps)
    assert torch.allclose(sched.x0_from_eps(xt, 750, eps), x0, atol=1e-5)


def test_bad_arguments(sched):
    m, x = Dummy(), torch.randn(1, 1, 8, 8)
    with pytest.raises(ddpm.DDPMError, match="unknown class 12"):
        ddpm.cfg_eps(m, x, 10, 12)
    with pytest.raises(ddpm.DDPMError, match=r"unknown class 10: classes are the integers 0..9 \(None for unconditional\)"):
        ddpm.cfg_eps(m, x, 10, 10)
    with pytest.raises(ddpm.DDPMError, match="unknown class 7.6: classes are the integers 0..9"):
        ddpm.cfg_eps(m, x, 10, 7.6)
    with pytest.raises(ddpm.DDPMError, match="gamma must be a finite number, got 'big'"):
        ddpm.cfg_eps(m, x, 10, 1, gamma="big")
    with pytest.raises(ddpm.DDPMError, match=r"mask must be a tensor of spatial shape \(8, 8\)"):
        ddpm.inpaint(m, sched, x, torch.ones(4, 4))
    with pytest.raises(ddpm.DDPMError, match="t must be in 0..999"):
        sched.forward(x, 1000, x)


def test_ddpm_task_trains(tmp_path):
    from colddiff_lib.data import load_dataset
    from colddiff_lib.training import model_from_checkpoint, train
    ds = load_dataset("mnist", "test", image_size=16, root="/nonexistent-colddiff").subset(torch.arange(32))
    ds.split = "train"
    cfg = get_config("smoke", task="ddpm", train_steps=2, unet_dim=8, dim_mults=(1, 2), attn_heads=1,
                     attn_dim_head=8, batch_size=4, image_size=16, progress=False)
    ck = train(cfg, checkpoint=tmp_path / "h.pt", data=ds)
    model = model_from_checkpoint(ck, cfg)
    assert model.num_classes == 10 and model(torch.zeros(1, 1, 16, 16), torch.tensor([5]), torch.tensor([3])).shape == (1, 1, 16, 16)
