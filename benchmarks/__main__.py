"""make bench: speed measured side by side in one run, printed as ratios, written to results/bench/.

    python -m benchmarks [--only roofline,blur,alg2,train,fid,bf16ab,layout,norm,threads] [--quick]

Every file it writes names the machine it ran on (processor, the flags that decide precision,
threads), and ``roofline`` measures that machine's own limit in the same run.
"""
from __future__ import annotations

import argparse
import os
import time

import pandas as pd
import torch

import tempfile

from colddiff_lib import metrics as M
from colddiff_lib import precision as P
from colddiff_lib.config import get_config, results_root
from colddiff_lib.data import fixed_subset
from colddiff_lib.io import atomic_write_text
from colddiff_lib.metrics import rmse
from colddiff_lib.objectives import EpsilonLoss
from colddiff_lib.sampling import algorithm2, direct
from colddiff_lib.tasks import build_degradation, build_model, load_data, make_degradation
from colddiff_lib.training import model_from_checkpoint, train
from colddiff_lib.unet import Unet

from benchmarks import roofline as R

OUT = results_root() / "bench"      # the configs' output root (results_dir), like every writer


def timeit(fn, repeat=3, warmup=1):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def save(name, rows):
    """Write ``rows`` to results/bench/<name>.csv with the machine they were measured on."""
    m = P.machine()
    df = pd.DataFrame(rows).assign(cpu=m["cpu"], flags=m["flags"], threads=m["threads"], torch=m["torch"])
    atomic_write_text(OUT / f"{name}.csv", df.to_csv(index=False))
    print(df.to_string(index=False))
    return df


def _gflop(fn) -> float:
    """GFLOP of one call of ``fn`` as torch counts them (2 per multiply-add of convolutions and matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops() / 1e9


def bench_roofline(quick):
    """The machine's own limit, measured in this run: a 3x3 convolution (192 channels, 35x35, batch 32,
    channels-last, the shape of Inception's middle layers) in fp32 and in bf16 autocast.  Then the
    project's two hot paths as a fraction of it: the cpu profile's U-Net forward (batch 128) in fp32
    and bf16, NCHW and channels-last, and the FID features (fp32 always).  Goals: U-Net forward
    >= 60% of the roofline in the chosen precision; FID features >= 75% of the fp32 roofline.

    Two fractions are printed. ``fraction_of_roofline`` divides the achieved GFLOP/s by the
    convolution probe's: the compute roof alone. ``fraction_of_bound`` divides the roofline time
    (``benchmarks.roofline``: every op of the same call at max(its FLOPs / the probe's rate, its bytes
    / the bandwidth measured here at its size)) by the measured time: the roofline proper, which
    also holds the adds, norms, activations and casts to the memory bandwidth."""
    chosen, why = P.choose("auto")
    conv = torch.nn.Conv2d(192, 192, 3, padding=1).eval().to(memory_format=torch.channels_last)
    x = torch.randn(8 if quick else 32, 192, 35, 35).to(memory_format=torch.channels_last)
    flops = 2 * x.shape[0] * 192 * 192 * 9 * 35 * 35 / 1e9
    roof = {}
    with torch.no_grad():
        for prec in ("fp32", "bf16"):
            with P.autocast(prec):
                roof[prec] = flops / timeit(lambda: conv(x), repeat=3 if quick else 10)
    rows = [{"what": "roofline: 3x3 conv 192ch 35x35 (the limit)", "precision": p, "per_image_ms": None,
             "GFLOP_per_s": round(g, 1), "fraction_of_roofline": 1.0, "peer": "", "ratio_to_peer": None,
             "goal": "", "chosen_precision": chosen} for p, g in roof.items()]
    # the other roof: memory bandwidth, c = a + b in fp32, at working sets from L2 to DRAM sizes
    bw = R.BandwidthCurve(tuple(2 ** k for k in (range(20, 25) if quick else range(20, 29))))
    rows += [{"what": f"roofline: memory bandwidth, c = a + b, {ws / 2 ** 20:g} MiB working set", "precision": "fp32",
              "per_image_ms": None, "GB_per_s": round(b / 1e9, 1), "fraction_of_roofline": 1.0, "peer": "",
              "ratio_to_peer": None, "goal": "", "chosen_precision": chosen} for ws, b in bw.points]
    peak = {p: g * 1e9 for p, g in roof.items()}

    def bound_ms(fn, n):
        """The roofline time of one call of ``fn`` (n images), per image, in ms."""
        return R.bound_seconds(R.op_costs(fn), peak, bw)["total"] / n * 1e3

    cfg = get_config("cpu", task="deblur", dataset="mnist")
    b = 16 if quick else 128
    xe, te = torch.rand(b, 1, 32, 32) * 2 - 1, torch.randint(1, 21, (b,))
    model = build_model(cfg, 1).eval()
    with torch.no_grad():
        g_unet = _gflop(lambda: model(xe, te)) / b
        per, bound = {}, {}
        for layout in ("NCHW", "channels_last"):
            if layout == "channels_last":
                model.to_channels_last()
                xl = xe.contiguous(memory_format=torch.channels_last)
            else:
                xl = xe
            for prec in ("fp32", "bf16"):
                with P.autocast(prec):
                    per[layout, prec] = timeit(lambda: model(xl, te), repeat=2 if quick else 5) / b
                    bound[layout, prec] = bound_ms(lambda: model(xl, te), b)
    base = per["NCHW", "fp32"]
    for (layout, prec), s in per.items():
        rows.append(_path_row(f"cpu U-Net forward, batch {b}, {layout} ({g_unet:.3f} GFLOP/img)", prec, s, g_unet,
                              roof[prec], bound[layout, prec], chosen, peer="fp32 NCHW", ratio=base / s,
                              goal=">= 0.60 in the chosen precision" if (layout, prec) == ("channels_last", chosen)
                              else ""))

    u = torch.randint(0, 256, (16 if quick else 64, 3, 32, 32), dtype=torch.uint8,
                      generator=torch.Generator().manual_seed(0))
    ext = M.fast_inception()
    g_fid = _gflop(lambda: ext(u[:4])) / 4
    M.extract_features(u[:8], extractor=ext)
    s = timeit(lambda: M.extract_features(u, extractor=ext), repeat=1 if quick else 2) / len(u)
    fid_bound = bound_ms(lambda: M.extract_features(u, extractor=ext), len(u))
    rows.append(_path_row(f"FID features, FastInception ({g_fid:.2f} GFLOP/img)", "fp32", s, g_fid, roof["fp32"],
                          fid_bound, chosen, ms_digits=2, goal=">= 0.75 (fp32)"))
    if not quick and _can_compile():
        (su, cu), (sf, cf) = _compiled_times(model, xl, te, chosen, ext, u)
        rows.append(_path_row(f"cpu U-Net forward, batch {b}, channels_last, torch.compile ({g_unet:.3f} GFLOP/img; "
                              f"{cu:.0f} s to compile)", chosen, su, g_unet, roof[chosen], bound["channels_last", chosen],
                              chosen, peer=f"eager channels_last {chosen}", ratio=per["channels_last", chosen] / su))
        rows.append(_path_row(f"FID features, FastInception, torch.compile ({g_fid:.2f} GFLOP/img; {cf:.0f} s to "
                              "compile)", "fp32", sf, g_fid, roof["fp32"], fid_bound, chosen, ms_digits=2,
                              peer="eager FastInception", ratio=s / sf))
    print(f"\n[0] roofline of this machine ({P.cpu_model()}; {P.machine()['flags']}), and the hot paths as "
          f"fractions of it; precision policy: {why}")
    # where the chosen precision's U-Net forward loses to its bound, op by op
    with torch.no_grad(), P.autocast(chosen):
        ops = R.by_op(lambda: model(xl, te), peak, bw, b)
    print(f"\n[0] cpu U-Net forward, batch {b}, channels-last, {chosen}: time against the roofline, by op")
    save("roofline_ops", [{k: round(v, 4) if isinstance(v, float) else v for k, v in dict(r, precision=chosen).items()}
                          for r in ops])
    return save("roofline", rows)


def bench_blur(quick):
    """D(x0, t), CelebA schedule (T=200, 15x15, reflect), 128x128, batch 32: FFT vs literal convolutions."""
    D = build_degradation("deblur", "celeba", 128, 3)
    x = torch.rand(32, 3, 128, 128) * 2 - 1
    rows = []
    for t in (1, 50, 200):
        lib = timeit(lambda: D(x, t))
        lit = timeit(lambda: D.literal(x, t), repeat=1 if t > 1 else 3)
        err = float((D(x, t) - D.literal(x, t)).abs().max())
        rows.append({"t": t, "library_s": round(lib, 4), "literal_s": round(lit, 4), "ratio": round(lit / lib, 1),
                     "max_abs_diff": f"{err:.1e}"})
    print("\n[1] blur degradation, CelebA schedule, batch 32x3x128x128 (goal >= 50x at t=200)")
    return save("blur", rows)


def bench_alg2(quick):
    """A whole Algorithm-2 run at T=200 with a cheap stand-in network: FFT D vs literal D."""
    size, batch = (64, 4)
    D = build_degradation("deblur", "celeba", size, 3)
    net = torch.nn.Conv2d(3, 3, 3, padding=1)
    R = lambda x, t: net(x)

    class Literal:
        T = D.T
        def __call__(self, x0, t, state=None):
            t = int(t) if not torch.is_tensor(t) else int(t.flatten()[0])
            return D.literal(x0, t)

    x = D(torch.rand(batch, 3, size, size) * 2 - 1, D.T)
    with torch.no_grad():
        lib = timeit(lambda: algorithm2(R, D, x), repeat=1, warmup=0)
        lit = timeit(lambda: algorithm2(R, Literal(), x), repeat=1, warmup=0)
        err = float((algorithm2(R, D, x) - algorithm2(R, Literal(), x)).abs().max()) if not quick else float("nan")
    print(f"\n[2] Algorithm 2, T=200, CelebA blur schedule, batch {batch}x3x{size}x{size}, stand-in network "
          "(goal >= 20x)")
    return save("alg2", [{"T": D.T, "batch": batch, "size": size, "library_s": round(lib, 3), "literal_s": round(lit, 2),
                          "ratio": round(lit / lib, 1), "max_abs_diff": f"{err:.1e}"}])


def bench_train(quick):
    """Training throughput of the paper's MNIST configuration, fp32 vs bf16 autocast, with GFLOP/s."""
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode
    model = Unet(64, (1, 2, 4, 8), 1)
    opt = torch.optim.Adam(model.parameters(), lr=2e-5)
    x, t = torch.rand(32, 1, 32, 32) * 2 - 1, torch.randint(1, 21, (32,))

    def step(bf16):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.l1_loss(model(x, t).float(), x)
        loss.backward()
        opt.step()
        opt.zero_grad()

    with FlopCounterMode(display=False) as fc:
        step(False)
    flops = fc.get_total_flops()
    n = 512 if quick else 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    mm32 = timeit(lambda: a @ b, repeat=10)
    ab, bb = a.bfloat16(), b.bfloat16()
    mm16 = timeit(lambda: ab @ bb, repeat=10)
    peak32, peak16 = 2 * n ** 3 / mm32 / 1e9, 2 * n ** 3 / mm16 / 1e9
    rows = []
    for name, bf16, peak in (("fp32", False, peak32), ("bf16 autocast", True, peak16)):
        s = timeit(lambda: step(bf16), repeat=1 if quick else 3)
        rows.append({"precision": name, "step_s": round(s, 3), "images_per_s": round(32 / s, 2),
                     "GFLOP_per_step": round(flops / 1e9, 1), "GFLOP_per_s": round(flops / s / 1e9, 1),
                     "matmul_peak_GFLOP_per_s": round(peak, 1), "fraction_of_peak": round(flops / s / 1e9 / peak, 3)})
    print(f"\n[3] training throughput, paper MNIST config (dim 64, mults 1,2,4,8, batch 32, 32x32), "
          f"{torch.get_num_threads()} threads")
    df = save("train", rows)
    print(f"bf16 / fp32 speed ratio: {df.images_per_s[1] / df.images_per_s[0]:.2f}")
    return df


def bench_fid(quick):
    """FID features on CPU: the library's path vs torch-fidelity's default path, same images."""
    import torch_fidelity
    n = 32 if quick else 96
    u = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return n
        def __getitem__(self, i):
            return u[i]

    w = str(M.fid_weights_path())
    M.extract_features(u[:8])  # warm-up of the library path
    t = time.perf_counter()
    torch_fidelity.calculate_metrics(input1=DS(), input2=DS(), fid=True, feature_extractor_weights_path=w,
                                     cache=False, verbose=False, cuda=False, save_cpu_ram=True)
    tf = time.perf_counter() - t
    tf_rate = 2 * n / tf
    t = time.perf_counter()
    fast = M.extract_features(u)
    lib_rate = n / (time.perf_counter() - t)
    ref = M.extract_features(u[:16], extractor=M.inception(), batch_size=64)
    err = float((ref - fast[:16]).abs().max())
    print(f"\n[4] FID feature extraction on CPU, {n} images 32x32 (goal >= 3x, features within 1e-4)")
    return save("fid", [{"images": n, "torch_fidelity_default_img_per_s": round(tf_rate, 2),
                         "library_img_per_s": round(lib_rate, 2), "ratio": round(lib_rate / tf_rate, 2),
                         "max_abs_feature_diff": f"{err:.1e}"}])


def bench_bf16ab(quick):
    """A/B: smoke deblurring (MNIST) trained in fp32 and in bf16, two seeds each: RMSE of Direct."""
    rows = []
    for bf16 in (False, True):
        for seed in (0, 1):
            cfg = get_config("smoke", task="deblur", dataset="mnist", bf16=bf16, seed=seed, progress=False,
                             train_steps=60 if quick else 200)
            with tempfile.TemporaryDirectory() as d:
                ck = train(cfg, checkpoint=os.path.join(d, "ab.pt"))
            R = model_from_checkpoint(ck, cfg)
            x0 = fixed_subset(load_data(cfg, "test"), 200).all()
            D = make_degradation(cfg, 1)
            with torch.no_grad():
                r1 = rmse(direct(R, D, D(x0, 1), t_start=1), x0)
                rT = rmse(direct(R, D, D(x0, D.T)), x0)
            rows.append({"precision": "bf16" if bf16 else "fp32", "seed": seed, "train_s": round(ck["wall_s"], 1),
                         "RMSE_direct_t1": round(r1, 4), "RMSE_direct_tT": round(rT, 4)})
    print("\n[5] bf16 A/B on the smoke task (MNIST deblurring)")
    return save("bf16_ab", rows)


def bench_layout(quick):
    """Training step of the workshop's epsilon model (smoke ddpm config: dim 32, mults 1,2,2, batch 64),
    NCHW vs channels-last, fp32 and bf16 autocast, side by side."""
    cfg = get_config("smoke", task="ddpm")
    x0 = torch.rand(cfg.batch_size, 1, 32, 32) * 2 - 1
    y = torch.randint(0, 10, (cfg.batch_size,))
    objective = EpsilonLoss()
    rows = []
    for bf16 in (False, True):
        per = {}
        for layout in ("NCHW", "channels_last"):
            torch.manual_seed(0)
            model = build_model(cfg, 1)
            if layout == "channels_last":
                model.to_channels_last()
            opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
            gen = torch.Generator().manual_seed(0)

            def step():
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    t, state = objective.draw(x0, gen)
                    loss = objective(model, x0, t, state, y)
                loss.backward()
                opt.step()
                opt.zero_grad()
            per[layout] = timeit(step, repeat=2 if quick else 5)
        rows.append({"precision": "bf16 autocast" if bf16 else "fp32", "NCHW_step_s": round(per["NCHW"], 3),
                     "channels_last_step_s": round(per["channels_last"], 3),
                     "speedup": round(per["NCHW"] / per["channels_last"], 2)})
    print(f"\n[6] training step, workshop epsilon model (dim {cfg.unet_dim}, mults {cfg.dim_mults}, "
          f"batch {cfg.batch_size}), NCHW vs channels-last")
    return save("layout", rows)


def bench_norm(quick):
    """The U-Net's channel LayerNorm: fused F.layer_norm (the library) vs its literal var_mean form,
    in the cpu profile's MNIST network: a training step (channels-last, as training runs) and an
    evaluation forward pass (NCHW, as sampling runs), side by side."""
    import torch.nn.functional as F
    from colddiff_lib.unet import LayerNorm2d
    cfg = get_config("cpu", task="deblur", dataset="mnist")
    x0 = torch.rand(cfg.batch_size, 1, 32, 32) * 2 - 1
    t = torch.randint(1, 21, (cfg.batch_size,))
    xe, te = torch.rand(100, 1, 32, 32) * 2 - 1, torch.randint(1, 21, (100,))
    fused = LayerNorm2d.forward
    rows = []
    for what in ("train step (channels-last)", "eval forward, batch 100 (NCHW)"):
        per = {}
        for name, fwd in (("fused", fused), ("literal", LayerNorm2d.literal)):
            LayerNorm2d.forward = fwd
            try:
                torch.manual_seed(0)
                model = build_model(cfg, 1)
                if what.startswith("train"):
                    model.to_channels_last()
                    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

                    def run():
                        F.l1_loss(model(x0, t), x0).backward()
                        opt.step()
                        opt.zero_grad()
                else:
                    model.eval()

                    def run():
                        with torch.no_grad():
                            model(xe, te)
                per[name] = timeit(run, repeat=2 if quick else 5)
            finally:
                LayerNorm2d.forward = fused
        rows.append({"what": what, "fused_s": round(per["fused"], 3), "literal_s": round(per["literal"], 3),
                     "speedup": round(per["literal"] / per["fused"], 2)})
    ln = LayerNorm2d(64)
    torch.nn.init.normal_(ln.g)
    torch.nn.init.normal_(ln.b)
    z = torch.randn(8, 64, 16, 16)
    with torch.no_grad():
        err = float((ln(z) - ln.literal(z)).abs().max())
    print(f"\n[7] U-Net LayerNorm, cpu profile MNIST net (dim {cfg.unet_dim}, mults {cfg.dim_mults}, "
          f"batch {cfg.batch_size}): fused vs literal; max |diff| of the norm itself {err:.1e}")
    return save("norm", rows)


def bench_threads(quick):
    """OpenMP wait policy: one process alone vs two at once on the same cores (a training run in the
    background while a notebook runs), ACTIVE (libgomp's default: waiting threads spin) vs PASSIVE
    (they sleep; colddiff's default, set in colddiff_lib/__init__.py and the Makefile).  Each worker
    is its own process: libgomp reads the policy when torch is imported."""
    import subprocess
    import sys
    secs = 4 if quick else 10

    def run(policy, procs):
        env = {**os.environ, "OMP_WAIT_POLICY": policy}
        ps = [subprocess.Popen([sys.executable, "-m", "benchmarks.thread_worker", str(secs)], env=env,
                               stdout=subprocess.PIPE, text=True) for _ in range(procs)]
        return max(float(p.communicate()[0]) for p in ps)      # the slower of the two
    rows = []
    for procs in (1, 2):
        per = {pol: run(pol, procs) for pol in ("ACTIVE", "PASSIVE")}
        rows.append({"processes at once": procs, "ACTIVE_s_per_forward": round(per["ACTIVE"], 4),
                     "PASSIVE_s_per_forward": round(per["PASSIVE"], 4),
                     "ACTIVE / PASSIVE": round(per["ACTIVE"] / per["PASSIVE"], 2)})
    print(f"\n[8] OpenMP wait policy, cpu profile MNIST U-Net forward (batch 32, {torch.get_num_threads()} "
          "threads per process): one process alone, and two at once on the same cores")
    return save("threads", rows)


def _can_compile() -> bool:
    """torch.compile's CPU backend (inductor) writes C++: it needs a compiler on the PATH."""
    import shutil
    return any(shutil.which(c) for c in ("g++", "c++", "clang++"))


def _path_row(what, precision, s, gflop, roof_gflops, bound_ms, chosen, ms_digits=3, peer="", ratio=None, goal=""):
    """One hot path's row of ``bench_roofline``: ``s`` seconds per image for ``gflop`` GFLOP per image,
    as a fraction of the compute roof (GFLOP/s) and of its roofline time (``bound_ms`` per image)."""
    return {"what": what, "precision": precision, "per_image_ms": round(s * 1e3, ms_digits),
            "GFLOP_per_s": round(gflop / s, 1), "fraction_of_roofline": round(gflop / s / roof_gflops, 3),
            "roofline_ms": round(bound_ms, 3), "fraction_of_bound": round(bound_ms / (s * 1e3), 3), "peer": peer,
            "ratio_to_peer": None if ratio is None else round(ratio, 2), "goal": goal, "chosen_precision": chosen}


def _compiled_times(model, x, t, precision, ext, u):
    """((U-Net s per image, s to compile), (FID features s per image, s to compile)) under
    ``torch.compile`` (inductor, with ``freezing``: weights folded as constants, element-wise ops fused
    into the convolutions' epilogues where oneDNN allows), for comparison with the eager rows of the
    same run. The library does not compile: a few percent (see the README, benchmarks) against seconds
    of compiling in every process and for each new batch shape."""
    import torch._inductor.config as ic
    frozen, ic.freezing = ic.freezing, True
    try:
        with torch.no_grad(), P.autocast(precision):
            net = torch.compile(model)
            t0 = time.perf_counter()
            net(x, t)
            compile_s = time.perf_counter() - t0
            unet = (timeit(lambda: net(x, t), repeat=5) / len(x), compile_s)
        torch._dynamo.reset()
        cext = torch.compile(ext)
        t0 = time.perf_counter()
        M.extract_features(u[:8], extractor=cext)
        compile_s = time.perf_counter() - t0
        fid = (timeit(lambda: M.extract_features(u, extractor=cext), repeat=2) / len(u), compile_s)
        torch._dynamo.reset()
    finally:
        ic.freezing = frozen
    return unet, fid


BENCHES = {"roofline": bench_roofline, "blur": bench_blur, "alg2": bench_alg2, "train": bench_train, "fid": bench_fid, "bf16ab": bench_bf16ab, "layout": bench_layout, "norm": bench_norm,
           "threads": bench_threads}


def main():
    p = argparse.ArgumentParser(prog="python -m benchmarks", description="colddiff's benchmarks -> results/bench/")
    p.add_argument("--only", default="roofline,blur,alg2,train,fid,layout,norm,threads",
                   help=f"comma-separated benchmarks, of: {', '.join(BENCHES)} (default: all but bf16ab)")
    p.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    a = p.parse_args()
    unknown = [n for n in a.only.split(",") if n not in BENCHES]
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; valid: {', '.join(BENCHES)}")
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus")
    for name in a.only.split(","):
        BENCHES[name](a.quick)


if __name__ == "__main__":
    main()
