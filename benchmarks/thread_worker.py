"""One worker of ``make bench``'s "threads" case: U-Net forward passes of the cpu profile's MNIST
network (batch 32, all cores) for up to ``seconds``; prints seconds per forward pass.  Run as its own
process, because libgomp reads OMP_WAIT_POLICY when torch is first imported.

    OMP_WAIT_POLICY=ACTIVE python -m benchmarks.thread_worker 10
"""
import sys
import time

import torch

from colddiff_lib.config import get_config
from colddiff_lib.tasks import build_model


def main(seconds: float, max_passes: int = 40) -> float:
    cfg = get_config("cpu", task="inpaint", dataset="mnist")
    torch.manual_seed(0)
    model = build_model(cfg, 1).eval().requires_grad_(False)
    s = cfg.image_size
    x, t = torch.rand(32, 1, s, s) * 2 - 1, torch.full((32,), 7)
    with torch.no_grad():
        model(x, t)                                            # warm-up
        n, t0 = 0, time.perf_counter()
        while n < max_passes and (n == 0 or time.perf_counter() - t0 < seconds):
            model(x, t)
            n += 1
    return (time.perf_counter() - t0) / n


if __name__ == "__main__":
    print(f"{main(float(sys.argv[1])):.5f}")
