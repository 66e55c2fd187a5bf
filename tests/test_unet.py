import pytest
import torch

from colddiff_lib.config import get_config
from colddiff_lib.unet import Unet, build_unet


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [32, 64, 128])
def test_shapes(channels, size):
    m = Unet(dim=8, dim_mults=(1, 2, 4, 8), channels=channels, attn_heads=1, attn_dim_head=8)
    x = torch.randn(2, channels, size, size)
    assert m(x, torch.tensor([0, 7])).shape == x.shape


def test_paper_size_and_time_dependence():
    cfg = get_config("paper")
    m = build_unet(cfg, 3)
    n = sum(p.numel() for p in m.parameters())
    assert 50e6 < n < 65e6            # dim 64, mults (1, 2, 4, 8), attention everywhere
    small = build_unet(get_config("smoke"), 1).eval()
    x = torch.randn(1, 1, 32, 32)
    assert not torch.allclose(small(x, torch.tensor([1])), small(x, torch.tensor([9])))


def test_class_conditioning_and_bad_input():
    m = Unet(dim=8, dim_mults=(1, 2), channels=1, num_classes=10, attn_heads=1, attn_dim_head=8).eval()
    x = torch.randn(2, 1, 16, 16)
    a = m(x, torch.tensor([3, 3]), torch.tensor([1, 2]))
    b = m(x, torch.tensor([3, 3]))                      # null label
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match=r"Unet expects \(N, 1, H, W\)"):
        m(torch.randn(2, 3, 16, 16), torch.tensor([1, 1]))


def test_channels_last_is_the_same_function():
    torch.manual_seed(0)
    m = Unet(dim=8, dim_mults=(1, 2), channels=1, num_classes=10, attn_heads=1, attn_dim_head=8).eval()
    x, t, y = torch.randn(3, 1, 16, 16), torch.tensor([1, 50, 999]), torch.tensor([0, 5, 10])
    ref = m(x, t, y)
    m.to_channels_last()
    out = m(x, t, y)
    assert m.channels_last and out.is_contiguous(memory_format=torch.channels_last)
    assert (out - ref).abs().max() < 1e-5
    # weights saved from a channels-last model load into a plain one
    plain = Unet(dim=8, dim_mults=(1, 2), channels=1, num_classes=10, attn_heads=1, attn_dim_head=8).eval()
    plain.load_state_dict(m.state_dict())
    assert (plain(x, t, y) - ref).abs().max() < 1e-5


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_layer_norm_is_the_per_pixel_channel_norm(layout):
    """The fused LayerNorm2d against the formula in float64, values and gradients, in both layouts."""
    from colddiff_lib.unet import LayerNorm2d
    torch.manual_seed(0)
    ln = LayerNorm2d(6)
    with torch.no_grad():
        ln.g.normal_()
        ln.b.normal_()
    x = (torch.randn(2, 6, 5, 7) * 3 + 1).contiguous(memory_format=layout).requires_grad_()
    out = ln(x)
    xd, g, b = x.detach().double(), ln.g.detach().double(), ln.b.detach().double()
    mean = xd.mean(1, keepdim=True)
    var = ((xd - mean) ** 2).mean(1, keepdim=True)          # biased, as in the paper's code
    ref = (xd - mean) / (var + 1e-5).sqrt() * g + b
    assert out.shape == x.shape and (out.double() - ref).abs().max() < 1e-5
    assert (ln.literal(x).double() - ref).abs().max() < 1e-5
    w = torch.randn_like(out)
    gx, gg = torch.autograd.grad((out * w).sum(), (x, ln.g))
    lx, lg = torch.autograd.grad((ln.literal(x) * w).sum(), (x, ln.g))
    assert (gx - lx).abs().max() < 1e-4 and (gg - lg).abs().max() < 1e-4
