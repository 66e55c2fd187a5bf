"""Numeric precision: what this machine runs natively, the policy that follows, and autocast.

bf16 autocast halves the work of every convolution where the processor has bf16 arithmetic
(CPUs with AVX-512 BF16 or AMX, GPUs from Ampere on), and multiplies it where bf16 is emulated
(CPUs with only AVX2: many times slower than fp32; benchmarks/README.md).  So the
policy ``auto`` picks bf16 only where it is native, fp32 everywhere else, and says which and why.

What the policy decides, and what it does not:

* sampling (the tables' Algorithm 2 and Direct outputs): ``auto`` by default on the command line
  (``python -m colddiff_lib table --precision``); every table row records the precision it was
  sampled in (column ``precision``).  Deblurring, blur generation and inpainting generation keep fp32
  under ``auto`` (``tasks.Task.fp32_sampling``): their x_T holds the image in grey-level differences
  finer than bf16 resolves.  The notebooks and the API default to ``fp32``, so that a
  checked notebook output never depends on the CPU it ran on;
* training: bf16 is the config field ``bf16`` and part of the config hash (a model trained in bf16
  is another model, with its own weights file); every profile trains in fp32, and
  ``train --precision auto`` opts in for one run.  Not the default, because a bf16 continuation at
  the cpu profile's learning rate once diverged where the same run in fp32 did not
  (``results/REPORT.md``, Precision);
* FID features stay fp32 always (``metrics``): under bf16 autocast they move enough to shift FID
  by more than the differences the tables are read for (``results/REPORT.md``, Precision).
"""
from __future__ import annotations

import contextlib
import copy
import platform
from pathlib import Path

import torch

POLICIES = ("auto", "fp32", "bf16")
# CPU flags (Linux /proc/cpuinfo) that mean bf16 arithmetic in hardware
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
SHOWN_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


class PrecisionError(ValueError):
    pass


def _cpuinfo(field: str) -> str | None:
    """The first ``field`` line of Linux's /proc/cpuinfo, or None where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux); empty where /proc/cpuinfo is absent (then bf16 counts as emulated)."""
    return set((_cpuinfo("flags") or "").split())


def cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def native_bf16(device: str | torch.device = "cpu") -> bool:
    """Does ``device`` do bf16 arithmetic in hardware (not emulated)?"""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool(cpu_flags() & set(NATIVE_BF16_FLAGS))
    return False


def machine(device: str | torch.device = "cpu") -> dict:
    """What a result should record about where it was measured: processor, the flags that decide
    precision, torch's kernel level, threads, and whether bf16 is native."""
    device = torch.device(device)
    flags = cpu_flags()
    out = {"cpu": cpu_model(), "flags": " ".join(f for f in SHOWN_FLAGS if f in flags) or "-",
           "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "threads": torch.get_num_threads(), "native_bf16": native_bf16(device), "torch": torch.__version__}
    if device.type == "cuda" and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


def where(device: str | torch.device = "cpu") -> str:
    """One line for a table's ``eval on`` column: the GPU, or the processor and its threads."""
    m = machine(device)
    return m.get("gpu") or f"{m['cpu']} ({m['flags']}), {m['threads']} CPU threads"


def choose(policy: str = "auto", device: str | torch.device = "cpu", fp32_only: str = "") -> tuple[str, str]:
    """The precision to run in, ``"fp32"`` or ``"bf16"``, and one line saying why.

    ``auto``: bf16 where ``device`` has it natively, else fp32; but fp32 wherever ``fp32_only`` gives
    a reason (a task's ``fp32_sampling``: bf16 would change what the network reads, not only how
    fast).  ``fp32`` / ``bf16``: as asked (bf16 on an emulating CPU, or against ``fp32_only``, is
    allowed and said to be slow or to change the result)."""
    if policy not in POLICIES:
        raise PrecisionError(f"precision {policy!r} is not a policy; use one of {', '.join(POLICIES)}")
    device = torch.device(device)
    native = native_bf16(device)
    where = f"{device.type} ({cpu_model()})" if device.type == "cpu" else device.type
    if policy == "auto":
        if native and fp32_only:
            return "fp32", f"fp32, although {where} has native bf16: {fp32_only}"
        if native:
            return "bf16", f"bf16 autocast: {where} has native bf16"
        return "fp32", f"fp32: {where} has no native bf16 (it would be emulated, several times slower)"
    if policy == "bf16" and fp32_only:
        return "bf16", f"bf16 autocast as asked, but expect other results than fp32's: {fp32_only}"
    if policy == "bf16" and not native:
        return "bf16", f"bf16 autocast as asked, but {where} emulates bf16: expect it to be several times slower"
    return policy, f"{policy} as asked"


def autocast(precision: str, device: str | torch.device = "cpu"):
    """A context that runs the forward pass in ``precision`` (bf16 autocast, or nothing for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    raise PrecisionError(f"precision {precision!r} is neither fp32 nor bf16; pass choose(policy)[0]")


def channels_last(model: torch.nn.Module) -> bool:
    """Whether every 4-D weight of ``model`` is laid out channels-last (as ``pretrained.load(...,
    channels_last=True)`` gives it)."""
    return all(w.is_contiguous(memory_format=torch.channels_last) for w in model.parameters() if w.dim() == 4)


def restorer(model: torch.nn.Module, precision: str = "fp32"):
    """The network as the samplers' R(x_s, s) -> x0_hat, run in ``precision``; outputs are float32
    and contiguous, so that the samplers' arithmetic (x_s - D(x0_hat, s) + D(x0_hat, s-1)) stays in
    fp32 whatever the network ran in.

    fp32 is the plain network call, bit for bit.  bf16 runs the network channels-last, a copy of it
    unless it is already so (the caller's is left as it was): oneDNN's bf16 convolutions want that
    layout (a channels-last input alone does not help): 15-20% less time per call on the 2-core
    hosts here (``results/bench/roofline.csv``, the U-Net forward rows)."""
    device = next(model.parameters()).device
    autocast(precision, device)                # check the name once, before any sampling
    if precision == "fp32":
        def R(x, t):
            return model(x, t).float()
        return R

    net = model if channels_last(model) else copy.deepcopy(model).to(memory_format=torch.channels_last)

    def R(x, t):
        with autocast(precision, device):
            out = net(x.contiguous(memory_format=torch.channels_last), t)
        return out.float().contiguous()
    return R
