"""The precision policy: bf16 only where the machine has it natively, said in one line, recorded in
every table row; the fp32 path is the plain network call, bit for bit."""
import pytest
import torch

from colddiff_lib import precision as P
from colddiff_lib.config import get_config
from colddiff_lib.tasks import build_model


@pytest.mark.parametrize("flags, native", [({"avx2", "fma"}, False), ({"avx2", "avx512f"}, False),
                                           ({"avx512f", "avx512_bf16"}, True), ({"amx_tile", "amx_bf16"}, True),
                                           (set(), False)])
def test_auto_picks_bf16_only_where_the_cpu_has_it(monkeypatch, flags, native):
    monkeypatch.setattr(P, "cpu_flags", lambda: flags)
    assert P.native_bf16("cpu") is native
    chosen, why = P.choose("auto", "cpu")
    assert chosen == ("bf16" if native else "fp32")
    assert ("has native bf16" in why) if native else ("emulated" in why)
    assert P.choose("fp32", "cpu")[0] == "fp32"
    forced, why = P.choose("bf16", "cpu")
    assert forced == "bf16" and (("slower" in why) != native)


def test_a_policy_that_does_not_exist_is_one_clear_line():
    with pytest.raises(P.PrecisionError, match="'fp16' is not a policy; use one of auto, fp32, bf16"):
        P.choose("fp16")
    with pytest.raises(P.PrecisionError, match="neither fp32 nor bf16"):
        P.restorer(torch.nn.Conv2d(1, 1, 1), "auto")


def test_machine_record_names_processor_flags_and_threads():
    m = P.machine()
    assert m["cpu"] and m["threads"] == torch.get_num_threads() and isinstance(m["native_bf16"], bool)
    assert set(m["flags"].split()) <= set(P.SHOWN_FLAGS) | {"-"}


def test_restorer_fp32_is_the_network_and_bf16_stays_close_in_float32():
    cfg = get_config("smoke", task="deblur", dataset="mnist", unet_dim=8, dim_mults=(1, 2), attn_heads=1,
                     attn_dim_head=8, image_size=16)
    torch.manual_seed(0)
    model = build_model(cfg, 1).eval()
    x, t = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([1, 2, 3, 4])
    with torch.no_grad():
        ref = model(x, t)                                   # the literal call
        out32 = P.restorer(model, "fp32")(x, t)
        out16 = P.restorer(model, "bf16")(x, t)
    assert torch.equal(out32, ref)
    assert out16.dtype == torch.float32                    # samplers' arithmetic stays fp32
    # bf16 keeps 8 mantissa bits: a relative error of a few 2^-8 through a small network
    assert (out16 - ref).abs().max() <= 0.05 * ref.abs().max()
    assert not torch.equal(out16, ref)                     # the autocast really ran


def test_bf16_restorer_runs_a_channels_last_copy_and_leaves_the_callers_network_alone():
    cfg = get_config("smoke", task="deblur", dataset="mnist", unet_dim=8, dim_mults=(1, 2), attn_heads=1,
                     attn_dim_head=8, image_size=16)
    torch.manual_seed(0)
    model = build_model(cfg, 1).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, t = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([1, 2, 3, 4])
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            literal = model(x, t).float()                  # autocast on the NCHW network itself
        out16 = P.restorer(model, "bf16")(x, t)
    assert out16.is_contiguous()                           # the samplers get a plain NCHW tensor
    assert (out16 - literal).abs().max() <= 0.05 * literal.abs().max()
    for k, v in model.state_dict().items():                # same values, same NCHW layout
        assert torch.equal(v, before[k]) and v.is_contiguous(), k
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
                and m.in_channels > 1)
    assert not conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_bf16_restorer_uses_a_network_that_is_already_channels_last_itself():
    cfg = get_config("smoke", task="deblur", dataset="mnist", unet_dim=8, dim_mults=(1, 2), attn_heads=1,
                     attn_dim_head=8, image_size=16)
    model = build_model(cfg, 1).eval()
    assert not P.channels_last(model)
    model = model.to(memory_format=torch.channels_last)
    assert P.channels_last(model)
    seen = []
    model.register_forward_hook(lambda *a: seen.append(1))
    with torch.no_grad():
        P.restorer(model, "bf16")(torch.zeros(2, 1, 16, 16), torch.tensor([1, 2]))
    assert seen == [1]                                     # no copy: the caller's module ran


@pytest.mark.parametrize("native", [True, False])
def test_auto_keeps_fp32_where_the_task_says_bf16_changes_the_result(monkeypatch, native):
    """A task's ``fp32_sampling`` reason wins over native bf16 under auto, and is said; asking for
    bf16 explicitly still gets it, with the warning."""
    monkeypatch.setattr(P, "cpu_flags", lambda: {"avx512_bf16"} if native else {"avx2"})
    chosen, why = P.choose("auto", "cpu", fp32_only="the reason")
    assert chosen == "fp32" and ("the reason" in why) == native
    forced, why = P.choose("bf16", "cpu", fp32_only="the reason")
    assert forced == "bf16" and "the reason" in why
    assert P.choose("auto", "cpu")[0] == ("bf16" if native else "fp32")


def test_the_tasks_kept_in_fp32_are_those_whose_x_T_bf16_cannot_hold():
    """Independent of the flag: round each MNIST task's fully degraded x_T to bf16 (what autocast does
    to the network's input) and compare the rounding error with what x_T holds of the image, its
    deviation from its own mean.  Blur hides the digit in deviations of ~1e-2 (deblurring; 1e-7 for
    blur generation's mean; inpainting generation's nearly solid x_T, 1e-4), where bf16 rounding is
    >= 10% of the signal; inpainting, super-resolution and noise keep it at full contrast (< 1%).  The tasks whose ratio is large must be the ones marked fp32."""
    from colddiff_lib import experiments
    from colddiff_lib.tasks import TASKS, make_degradation
    seen = {}
    for name, task in TASKS.items():
        if task.kind not in ("restoration", "generation") or task.needs_source or (task.datasets and "mnist" not in task.datasets):
            continue
        try:
            cfg = get_config("smoke", task=name, dataset="mnist")
            x0, _ = experiments.test_images(cfg, 32)
            D = make_degradation(cfg, x0.shape[1])
        except Exception:                     # a colour-only task (snow, decolor): no MNIST schedule
            continue
        xT, _ = experiments.fully_degrade(cfg, D, x0)
        signal = (xT - xT.mean(dim=(2, 3), keepdim=True)).std()
        ratio = float((xT.to(torch.bfloat16).float() - xT).std() / signal)
        seen[name] = ratio
        assert (ratio > 0.05) == bool(task.fp32_sampling), (name, ratio)
    assert {"deblur", "inpaint", "superres", "blurgen", "hot"} <= set(seen), seen
