"""The roofline of one forward pass: what this machine could do for it at best, op by op.

A compute probe alone (``bench_roofline``'s 3x3 convolution) is the roof for convolutions and
matmuls only. Most of a small U-Net's other ops (adds, LayerNorm, GELU, the casts that bf16 autocast
inserts) do almost no arithmetic per byte: their limit is the memory bandwidth, not the FLOP rate.
The roofline model (Williams, Waterman and Patterson, 2009) bounds each op by both:

    t_op >= max(flops_op / peak_flops, bytes_op / bandwidth)

and the forward pass by the sum over its ops. ``op_costs`` records every aten op one call runs (its
FLOPs as ``torch.utils.flop_counter`` counts them, and the bytes it must read and write: its tensor
inputs and outputs, views excluded), ``bandwidth`` measures the memory bandwidth for tensors of a
given size in this run, and ``bound_seconds`` sums the roofline. The measured time divided into the
bound is the fraction of this machine's limit the pass reaches.

The bytes are a lower bound on traffic (each input read once, each output written once), so the
bound is optimistic: a real kernel can only be slower.
"""
from __future__ import annotations

import math
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import flop_registry


def tensor_bytes(t: torch.Tensor) -> int:
    """The bytes a kernel must touch to read (or write) ``t`` once: a broadcast dimension (stride 0)
    holds one element, not ``size``."""
    n = math.prod(s for s, st in zip(t.shape, t.stride()) if st != 0)
    return n * t.element_size()


_COMPOSITE_COMPUTE = {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                      "linear", "matmul", "einsum"}


def _aliases(t: torch.Tensor, others) -> bool:
    ptr = t.untyped_storage().data_ptr()
    return any(o.untyped_storage().data_ptr() == ptr for o in others)


class OpCosts(TorchDispatchMode):
    """Record ``(op, flops, bytes, dtype)`` for every aten op run inside the ``with`` block."""

    def __init__(self):
        super().__init__()
        self.ops: list[tuple[str, int, int, torch.dtype]] = []
        self.seconds: list[float] = []        # the wall time of each recorded op's own call

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func._overloadpacket.__name__ in _COMPOSITE_COMPUTE:
            # a composite op as TorchScript calls it (conv2d, matmul): record the ops it is made of,
            # whose FLOPs torch's counter knows (other composites run whole: their parts could
            # move bytes the fused op does not, such as max_pool2d's indices)
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        t0 = time.perf_counter()
        out = func(*args, **kwargs)
        dt = time.perf_counter() - t0
        ins = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        outs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        if func.is_view or (not func._schema.is_mutable and outs and all(_aliases(o, ins) for o in outs)):
            return out                        # a view (or _unsafe_view, detach) moves no data
        packet = func._overloadpacket
        flops = int(flop_registry[packet](*args, **kwargs, out_val=out)) if packet in flop_registry else 0
        nbytes = sum(tensor_bytes(t) for t in ins + outs)
        dtype = next((t.dtype for t in ins if t.is_floating_point()), torch.float32)
        self.ops.append((str(packet), flops, nbytes, dtype))
        self.seconds.append(dt)
        return out


def op_costs(fn) -> list[tuple[str, int, int, torch.dtype]]:
    """The ops one call of ``fn()`` runs, with their FLOPs and bytes (see :class:`OpCosts`)."""
    with OpCosts() as rec:
        fn()
    return rec.ops


def _op_times(op, peak: dict, bw) -> tuple[float, float]:
    """(compute time, memory time) of one recorded op: its FLOPs at the peak of its dtype (bf16 inputs
    run at the bf16 peak, any other at fp32's), its bytes at ``bw`` (bytes/s, or a callable of the
    op's bytes such as :class:`BandwidthCurve`).  Its roofline time is the larger."""
    _, flops, nbytes, dtype = op
    roof = peak["bf16"] if dtype == torch.bfloat16 else peak["fp32"]
    return flops / roof, nbytes / (bw(nbytes) if callable(bw) else bw)


def bound_seconds(ops, peak: dict, bw) -> dict:
    """The roofline time of ``ops`` (from :func:`op_costs`): each op at
    ``max(flops / peak[its dtype], bytes / bw)``.  ``peak`` maps ``"fp32"`` and ``"bf16"`` to FLOP/s
    (an op whose inputs are bf16 runs at the bf16 peak, any other at fp32's); ``bw`` is bytes/s, a
    number or a :class:`BandwidthCurve` (the bandwidth at each op's own bytes).
    Returns the total and its split into compute-bound and memory-bound ops."""
    compute = memory = 0.0
    for op in ops:
        tc, tm = _op_times(op, peak, bw)
        if tc >= tm:
            compute += tc
        else:
            memory += tm
    return {"total": compute + memory, "compute_bound": compute, "memory_bound": memory,
            "flops": sum(o[1] for o in ops), "bytes": sum(o[2] for o in ops)}


def bandwidth(numel: int, repeat: int = 10) -> float:
    """Memory bandwidth in bytes/s for fp32 tensors of ``numel`` elements, measured here: the best of
    ``repeat`` runs of ``c = a + b`` (read two tensors, write one: 12 bytes an element)."""
    a, b, c = torch.rand(numel), torch.rand(numel), torch.empty(numel)
    torch.add(a, b, out=c)
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        torch.add(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return 12 * numel / best


class BandwidthCurve:
    """Memory bandwidth against working-set size, measured here (:func:`bandwidth` at each size);
    called with an op's bytes it returns the bandwidth measured at the nearest size (on a log
    scale): a 2 MB op runs from cache, a 200 MB one from DRAM, and each is held to its own limit."""

    def __init__(self, working_sets=tuple(2 ** k for k in range(20, 29))):
        self.points = [(ws, bandwidth(max(1, ws // 12))) for ws in working_sets]

    def __call__(self, nbytes: int) -> float:
        return min(self.points, key=lambda p: abs(math.log(max(nbytes, 1) / p[0])))[1]


def by_op(fn, peak: dict, bw, n: int = 1, repeat: int = 3) -> list[dict]:
    """Where one call of ``fn`` (n images) spends its time against where the roofline says it could:
    per aten op, its calls, FLOPs and bytes per image, the time it took (ms per image: each op's own
    call timed as :class:`OpCosts` runs it, the best of ``repeat`` calls after one warm-up, so that
    nothing is counted twice), its roofline time and the fraction of that limit it reaches."""
    runs = []
    for _ in range(repeat + 1):
        with OpCosts() as rec:
            fn()
        runs.append(rec)
    ops, seconds = runs[1].ops, [min(r.seconds[i] for r in runs[1:]) for i in range(len(runs[1].ops))]
    rows: dict[str, dict] = {}
    for (name, flops, nbytes, dtype), sec in zip(ops, seconds):
        r = rows.setdefault(name, {"op": name, "calls": 0, "GFLOP": 0.0, "MB": 0.0, "ms": 0.0, "roofline_ms": 0.0})
        r["calls"] += 1
        r["GFLOP"] += flops / 1e9
        r["MB"] += nbytes / 1e6
        r["ms"] += sec * 1e3
        r["roofline_ms"] += max(_op_times((name, flops, nbytes, dtype), peak, bw)) * 1e3
    out = [{"op": r["op"], "calls": r["calls"], "GFLOP_per_img": r["GFLOP"] / n, "MB_per_img": r["MB"] / n,
            "measured_ms": r["ms"] / n, "roofline_ms": r["roofline_ms"] / n,
            "fraction_of_bound": r["roofline_ms"] / r["ms"] if r["ms"] > 0 else float("nan")}
           for r in rows.values()]
    return sorted(out, key=lambda r: -r["measured_ms"])
