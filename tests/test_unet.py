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
