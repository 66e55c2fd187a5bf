"""The training loop and its checkpoints, for any network, objective and data: the core of training,
which knows no task (:mod:`colddiff_lib.training` builds a task's parts and calls :func:`fit`).

Each step (per the official code): t ~ U{1..T}, x_t = D(x0, t), loss = |R(x_t, t) - x0|_1 (the
objective's job, :mod:`colddiff_lib.objectives`), Adam, ``grad_accum`` micro-batches of
``batch_size``.  EMA decay 0.995 updated every 10 steps; before step 2000 the EMA is a plain copy
of the model.

All randomness (batch indices, crops, flips, t, degradation states) comes from one
``torch.Generator`` whose state is saved in every checkpoint together with the model, the EMA,
the optimiser and torch's global RNG, so an interrupted run continues exactly where it stopped.

Under ``torchrun`` (PyTorch DDP) every rank draws the same global batch from the same generator
and trains on its own slice of it; gradients are averaged by DDP, so N processes with a global
batch B follow single-process training with batch B.  Only rank 0 writes checkpoints.
"""
from __future__ import annotations

import contextlib
import copy
import math
import signal
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from .common import default_device, progress_enabled, progress_flag, slice_state
from .config import Config, lr_at
from .data import ImageSet
from .io import atomic_write

CHECKPOINT_VERSION = 1


class CheckpointError(RuntimeError):
    pass


class DivergedError(RuntimeError):
    """The loss or the weights became NaN or infinite: training stops and nothing is exported."""


# Checkpoints by time as well as by step: the first after a minute of training (so an interrupt
# after a minute can resume; at 10% of the run it came 70,000 paper-profile steps in), then at least
# every 5 minutes.  A cpu-profile checkpoint (22 MB) takes well under a second to write, a paper one
# (about 1 GB with Adam) a few seconds: at most a few percent of the time between them.
FIRST_SAVE_S, SAVE_EVERY_S = 60.0, 300.0


class TrainingStopped(KeyboardInterrupt):
    """Training was asked to stop (SIGTERM: ``kill``, a job scheduler, a machine going down) and
    saved a checkpoint at the step it had finished; the same call resumes it exactly.  A
    KeyboardInterrupt, so that whatever handles Ctrl-C handles this too."""


@contextlib.contextmanager
def _stop_on_sigterm():
    """While training runs in the main thread, SIGTERM asks it to stop after the current step (and
    save) instead of killing it between checkpoints: the work since the last save is kept."""
    asked = []
    if threading.current_thread() is not threading.main_thread():
        yield asked
        return
    old = signal.signal(signal.SIGTERM, lambda signum, frame: asked.append(signum))
    try:
        yield asked
    finally:
        signal.signal(signal.SIGTERM, old)


def all_finite(state: dict) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in state.values() if torch.is_tensor(v) and v.is_floating_point())


def check_writable(path: Path) -> None:
    """Refuse, before any work, a checkpoint path that is a folder or whose folder cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint path {path} is a folder; give a file name, e.g. {path / 'model.pt'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as e:
        raise CheckpointError(f"cannot write checkpoints to {path.parent} ({e.strerror or e}); make it writable "
                              "or set another results folder (--set results_dir=..., results_dir=...)") from None


def _dist():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------
def save_checkpoint(path: Path, state: dict) -> None:
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path, cfg: Config | None = None) -> dict:
    """Load a checkpoint, refusing a corrupt/truncated file or one from another config."""
    path = Path(path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({type(e).__name__}); "
                              f"delete it and retrain (CLI --force, API force=True, make FORCE=1)") from None
    if not isinstance(ck, dict) or "ema" not in ck or "config_hash" not in ck:
        raise CheckpointError(f"checkpoint {path} is not a colddiff checkpoint; delete it and retrain (CLI --force, API force=True, make FORCE=1)")
    version = ck.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {version!r}; this colddiff reads versions "
                              f"1..{CHECKPOINT_VERSION}: update colddiff, or delete it and retrain (CLI --force)")
    if cfg is not None and ck["config_hash"] != cfg.hash:
        raise CheckpointError(f"checkpoint {path} was trained with another config (hash {ck['config_hash']}, "
                              f"this config {cfg.hash}); delete it or retrain (CLI --force, API force=True, make FORCE=1)")
    return ck


def shorter_run(cfg: Config):
    """(path, checkpoint) of the furthest saved run of ``cfg`` that differs from it only in
    ``train_steps`` and has not gone past ``cfg.train_steps``; None if there is none.  Training
    depends on ``train_steps`` only through when it stops (and how often it saves), so going on from
    such a run is exactly a run to ``cfg.train_steps`` (tests/test_training.py)."""
    best = None
    for f in sorted(cfg.checkpoint_path.parent.glob(f"{cfg.run_name}*.pt")):
        if f == cfg.checkpoint_path:          # the run's own file: the caller loads it (its errors are real)
            continue
        try:
            ck = load_checkpoint(f)
            other = Config(**{**ck["config"], "train_steps": cfg.train_steps})
        except Exception:                     # not a full checkpoint of a known config: not ours
            continue
        if ("model" in ck and "opt" in ck and other.hash == cfg.hash and ck["config_hash"] != cfg.hash
                and ck["step"] <= cfg.train_steps and (best is None or ck["step"] > best[1]["step"])):
            best = (f, ck)
    return best


def warm_start_origin(ck: dict) -> dict:
    """``{"warm_start": ...}`` when checkpoint ``ck`` descends from a warm start, else ``{}``: what
    every later checkpoint and exported weights file carries on."""
    return {"warm_start": ck["warm_start"]} if "warm_start" in ck else {}


def training_checkpoint(cfg: Config, step: int, model, ema, opt, gen: torch.Generator, losses: list,
                        wall_s: float, channels: int, world_size: int, origin: dict) -> dict:
    """The one layout of a training checkpoint (what :func:`train` saves and resumes, and what
    :func:`warm_start` writes): network, EMA, Adam, both random states, config and its hash, and
    ``origin`` (``{"warm_start": ...}`` for a warm-started run, else empty)."""
    return {"version": CHECKPOINT_VERSION, "step": step, "model": model.state_dict(), "ema": ema.state_dict(),
            "opt": opt.state_dict(), "rng": {"data": gen.get_state(), "torch": torch.get_rng_state()},
            "config": asdict(cfg), "config_hash": cfg.hash, "losses": losses, "wall_s": wall_s,
            "channels": channels, "world_size": world_size, **origin}


def float_weights(state: dict) -> dict:
    """An fp16 state dict (exported weights) as float32; integer buffers unchanged."""
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def export_weights(ck: dict, path: Path) -> None:
    """Write the EMA weights alone, in fp16, with the config hash (for committed smoke weights).
    The tensors are stored on the CPU, so that a plain ``torch.load`` works on any machine.
    Non-finite weights (a diverged run) are refused, never exported."""
    if not all_finite(ck["ema"]):
        raise DivergedError(f"the EMA weights at step {ck['step']} hold NaN or infinite values (the run diverged); "
                            "nothing exported: retrain with a lower learning rate (--set lr=...)")
    blob = {"version": CHECKPOINT_VERSION, "ema": {k: (v.half() if v.is_floating_point() else v).detach().cpu()
                                                   for k, v in ck["ema"].items()},
            "config_hash": ck["config_hash"], "step": ck["step"], "wall_s": ck["wall_s"],
            "channels": ck["channels"], "losses": ck["losses"][-50:],
            **warm_start_origin(ck)}
    save_checkpoint(path, blob)


# --------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def fit(cfg: Config, data: ImageSet, objective, new_model: Callable[[], torch.nn.Module], *,
        checkpoint: str | Path | None = None, stop_after: int | None = None, save_every: int | None = None,
        progress: bool | None = None, device=None, resume: bool = True) -> dict:
    """Train (or resume) ``new_model()`` on ``data`` with ``objective`` to ``cfg.train_steps``; return
    the final checkpoint dict.  ``new_model`` is called once, right after the seed is set, so that
    the initial weights depend on ``cfg.seed`` alone.  The loop's settings (batch, learning rate,
    EMA, bf16, seed, steps) come from ``cfg``; what is trained comes from the caller
    (:func:`colddiff_lib.training.train` builds a task's parts).

    ``stop_after`` stops after that many steps in this call (to simulate an interruption)."""
    rank, world = _dist()
    device = torch.device(device) if device is not None else default_device()
    path = Path(checkpoint) if checkpoint is not None else cfg.checkpoint_path
    if rank == 0:
        check_writable(path)                  # now, not at the first checkpoint (70,000 steps in)
    ds = data
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} must be divisible by the number of processes {world}")

    torch.manual_seed(cfg.seed)
    model = new_model().to(device).to_channels_last()   # same function, faster
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    step, losses, wall = 0, [], 0.0
    origin = {}                               # where a warm-started run began (kept in every checkpoint)

    own = load_checkpoint(path, cfg) if resume and path.exists() else None
    shorter = None
    if resume and path == cfg.checkpoint_path and (own is None or own["step"] < cfg.train_steps):
        # a run to fewer steps: go on from it (training length), also when this run's own checkpoint
        # is behind it (both are the same exact run, so the further one saves recomputing the steps between)
        shorter = shorter_run(cfg)
        if shorter is not None and own is not None and own["step"] >= shorter[1]["step"]:
            shorter = None
    ck = shorter[1] if shorter is not None else own
    if ck is not None:
        if shorter is not None and rank == 0:
            behind = (f"; this run's own checkpoint (step {own['step']}) is behind it and will be replaced"
                      if own is not None else "")
            print(f"continuing {cfg.run_name} from {shorter[0]} (step {ck['step']}, a run to "
                  f"train_steps={ck['config']['train_steps']}) up to {cfg.train_steps} steps; exact, since only "
                  f"when to stop depends on train_steps; that file is kept, this run saves to {path}{behind}")
        if "model" not in ck or "opt" not in ck:
            raise CheckpointError(f"{path} holds EMA weights only (an exported weights file), not a training "
                                  "checkpoint; training cannot resume from it: give another --checkpoint path")
        if not (all_finite(ck["model"]) and all_finite(ck["ema"])):
            raise DivergedError(f"{path} (step {ck['step']}) holds NaN or infinite weights: the run had diverged; "
                                "delete it and retrain (CLI --force), with a lower learning rate (--set lr=...)")
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["rng"]["data"])
        torch.set_rng_state(ck["rng"]["torch"])
        step, losses, wall = ck["step"], list(ck["losses"]), ck["wall_s"]
        origin = warm_start_origin(ck)
        if step >= cfg.train_steps and shorter is None:
            return ck

    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    per_rank = cfg.batch_size // world
    lo, hi = rank * per_rank, (rank + 1) * per_rank
    save_every = save_every or max(50, cfg.train_steps // 10)
    end = cfg.train_steps if stop_after is None else min(cfg.train_steps, step + stop_after)
    bar = tqdm(total=cfg.train_steps, initial=step, desc=f"train {cfg.run_name}",
               disable=not progress_enabled(progress_flag(progress, cfg)) or rank != 0)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)

    def snapshot():
        return training_checkpoint(cfg, step, model, ema, opt, gen, losses, wall, ds.channels, world, origin)

    model.train()
    started, last_save = time.perf_counter(), None
    with _stop_on_sigterm() as stop:
        while step < end:
            t0 = time.perf_counter()
            total = 0.0
            for micro in range(cfg.grad_accum):
                # the global batch, drawn identically on every rank; this rank trains on [lo:hi]
                idx = torch.randint(0, len(ds), (cfg.batch_size,), generator=gen)
                x0 = ds.batch(idx, generator=gen, hflip=cfg.hflip)
                sync = micro == cfg.grad_accum - 1 or world == 1
                ctx = net.no_sync() if (world > 1 and not sync) else contextlib.nullcontext()
                # the step's randomness (t, the degradation's state) for the global batch, then this rank's slice
                t, state = objective.draw(x0, gen)
                y = ds.labels[idx]
                with ctx:
                    with autocast:
                        loss = objective(net, x0[lo:hi].to(device), t[lo:hi].to(device),
                                         slice_state(state, lo, hi, device), y[lo:hi].to(device))
                    (loss / cfg.grad_accum).backward()
                total += loss.item() / cfg.grad_accum
            if not math.isfinite(total):
                raise DivergedError(f"training diverged at step {step + 1}: the l1 loss is {total} (lr {cfg.lr}); lower the "
                                    "learning rate (--set lr=...) and retrain (CLI --force); nothing was exported, "
                                    f"and {path} keeps the last finite checkpoint")
            for group in opt.param_groups:    # a function of the step alone: resuming stays exact
                group["lr"] = lr_at(cfg, step)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            if step % cfg.ema_every == 0:
                if step < cfg.ema_start:
                    ema.load_state_dict(model.state_dict())
                else:
                    ema_update(ema, model, cfg.ema_decay)
            losses.append(total)
            wall += time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix(loss=f"{total:.4f}")
            since = time.perf_counter() - (started if last_save is None else last_save)
            due = since >= (FIRST_SAVE_S if last_save is None else SAVE_EVERY_S)
            if rank == 0 and (step % save_every == 0 or step == end or due):
                if not all_finite(model.state_dict()):
                    raise DivergedError(f"training diverged at step {step}: the weights hold NaN or infinite values "
                                        f"(lr {cfg.lr}); lower the learning rate (--set lr=...) and retrain (CLI --force)")
                save_checkpoint(path, snapshot())
                last_save = time.perf_counter()
            if stop:                          # SIGTERM: keep this step's work, then stop
                if rank == 0:
                    save_checkpoint(path, snapshot())
                bar.close()
                raise TrainingStopped(f"stopped by SIGTERM after step {step}: {path} holds it; the same command "
                                      "resumes from there exactly")
    bar.close()
    if shorter is not None and rank == 0 and not path.exists():
        save_checkpoint(path, snapshot())     # went on from a run that had already reached this step
    return snapshot()
