"""A config's restoration network: its parts built from its task, trained by the loop of
:mod:`colddiff_lib.trainer`, loaded, warm-started and exported.

    model, info = train_or_load(cfg)    # the EMA restoration network (trained or from cache), and its
                                        # step, wall time, config hash and losses
    export_missing_weights(cfg)         # its EMA weights in fp16, for restore --model (never overwrites)

The task (:mod:`colddiff_lib.tasks`) gives the data, the objective (D and the l1 loss) and the
U-Net; :func:`colddiff_lib.trainer.fit` trains them with EMA, atomic checkpoints and exact resume.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch

from .common import default_device
from .config import PROFILE_DEFAULTS, Config, lr_at
from .data import ImageSet
from .tasks import build_model, load_data, make_objective
# the loop's errors and checkpoint files, where callers of train() meet them
from .trainer import (CHECKPOINT_VERSION, FIRST_SAVE_S, SAVE_EVERY_S, CheckpointError, DivergedError,  # noqa: F401
                      TrainingStopped, export_weights, fit, float_weights, load_checkpoint, save_checkpoint,
                      training_checkpoint)


def train(cfg: Config, *, checkpoint: str | Path | None = None, stop_after: int | None = None,
          save_every: int | None = None, progress: bool | None = None, device=None, resume: bool = True,
          data: ImageSet | None = None) -> dict:
    """Train (or resume) ``cfg``'s network to ``cfg.train_steps``: its task's training data (or
    ``data``), objective and U-Net, through :func:`colddiff_lib.trainer.fit`; return the final
    checkpoint dict.  ``stop_after`` stops after that many steps in this call (to simulate an
    interruption)."""
    ds = data if data is not None else load_data(cfg, "train")
    return fit(cfg, ds, make_objective(cfg, ds.channels), lambda: build_model(cfg, ds.channels),
               checkpoint=checkpoint, stop_after=stop_after, save_every=save_every, progress=progress,
               device=device, resume=resume)


def warm_start(cfg: Config, weights: str | Path, path: str | Path | None = None,
               weights_lr: float | None = None, weights_decay: tuple[int, int] | None = None) -> Path:
    """Write a training checkpoint for ``cfg`` that starts from EMA-only weights (an exported or
    committed ``weights/*.pt``, which has no optimiser state), so that training can go on from them.

    Not exact resume: the network and its EMA both start from the EMA weights, Adam starts afresh,
    and the data generator is seeded with ``cfg.seed + step`` (not replaying the first batches).
    Given a finished run's full training checkpoint (``checkpoints/*.pt``) instead, it keeps the
    raw network, the EMA, Adam's state and both random states: the run goes on exactly, under
    ``cfg``'s longer ``train_steps`` or new learning-rate schedule; an interrupted run's checkpoint
    (stopped before its ``train_steps``) may go on under another length and schedule, exactly, as long as
    both schedules gave the steps it has taken the same rates (:func:`_same_rates_so_far`).
    The weights must come from this config up to ``train_steps`` (their hash is checked with
    ``train_steps`` set to their step) or differ from it only in the training precision (``bf16``:
    fp32 weights may go on in bf16 autocast, and back), in the learning rate (from any profile's
    rate, or ``weights_lr`` when they were trained at a rate no profile uses, to ``cfg.lr``)
    or in a learning-rate decay (``lr_decay_start``/``lr_decay_end``: a constant-rate run may go on decaying,
    and a run whose rate decayed, named by ``weights_decay`` = (start, end), may go on with a new schedule);
    ``cfg.train_steps`` must lie beyond that step.  The
    checkpoint records where it started (``warm_start``).  Returns its path."""
    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(f"no weights file {weights}; give the path of a weights/*.pt file "
                                "(python -m colddiff_lib models lists the shipped ones)")
    w = load_checkpoint(weights)
    step = int(w["step"])
    if step >= cfg.train_steps:
        raise ValueError(f"{weights} is already at step {step}; set train_steps above it "
                         f"(e.g. --set train_steps={2 * step}) to go on from it")
    at_step = cfg.replace(train_steps=step).hash
    # Adam starts afresh, so the weights may come from a run that differed from this one only in
    # how it stepped: the arithmetic (bf16) and the learning rate (any profile's, e.g. a lower
    # rate to settle a model trained at the cpu profile's 1e-3).  The network and data must match.
    lrs = {cfg.lr, Config.lr, *(d["lr"] for d in PROFILE_DEFAULTS.values() if "lr" in d)}
    if weights_lr is not None:                # exported weights keep only the hash: the caller names it
        lrs.add(float(weights_lr))
    # ... and a run at a constant rate may go on with a decaying one (lr_decay_start/end)
    decays = [{}, {"lr_decay_start": 0, "lr_decay_end": 0}]
    if weights_decay is not None:             # ... or weights whose rate decayed go on with a new schedule (a restart)
        start, end = (int(v) for v in weights_decay)
        if not 0 <= start < end <= step:
            raise ValueError(f"the decay of {weights} must have ended by its step {step}: give START END with "
                             f"0 <= START < END <= {step} (--warm-start-decay)")
        decays.append({"lr_decay_start": start, "lr_decay_end": end})
    allowed = {cfg.replace(train_steps=step, bf16=b, lr=lr, **decay).hash for b in (False, True) for lr in lrs
               for decay in decays}
    full = "opt" in w and "model" in w       # a run's training checkpoint (finished or interrupted), not EMA-only weights
    if w["config_hash"] not in allowed and not (full and _same_rates_so_far(w, cfg, weights)):
        raise CheckpointError(f"{weights} was trained with another config (hash {w['config_hash']}; this config "
                              f"at train_steps={step}: {at_step}); warm-start only "
                              "from weights of the same task, dataset, network and settings (weights trained at "
                              "a learning rate no profile uses: give that rate, CLI --warm-start-lr; with a decayed rate: its "
                              "steps, CLI --warm-start-decay START END)")
    path = Path(path) if path is not None else cfg.checkpoint_path
    if path.exists():
        raise CheckpointError(f"{path} exists; delete it or give another --checkpoint path for the warm start")
    model = build_model(cfg, w["channels"]).to_channels_last()
    gen = torch.Generator()
    if full:
        # the run goes on as if its train_steps (or schedule) had been set so from the start: the
        # raw network, its EMA, Adam's moments and both random states, so no fresh-Adam bump
        model.load_state_dict(w["model"])
        ema = copy.deepcopy(model).requires_grad_(False)
        ema.load_state_dict(w["ema"])
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        opt.load_state_dict(w["opt"])
        gen.set_state(w["rng"]["data"])
        torch.set_rng_state(w["rng"]["torch"])
    else:
        gen.manual_seed(cfg.seed + step)
        torch.manual_seed(cfg.seed + step)
        model.load_state_dict(float_weights(w["ema"]))
        ema = copy.deepcopy(model).requires_grad_(False)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    origin = {"warm_start": {"from": str(weights), "step": step, "config_hash": w["config_hash"],
                             "kept": "network, EMA, Adam, random states" if full else "EMA weights; Adam afresh"}}
    if "warm_start" in w:                     # where the run itself began, if it was warm-started
        origin["warm_start"]["earlier"] = w["warm_start"]
    save_checkpoint(path, training_checkpoint(cfg, step, model, ema, opt, gen, list(w["losses"]),
                                              float(w["wall_s"]), w["channels"], 1, origin))
    return path


def _same_rates_so_far(w: dict, cfg: Config, weights: Path) -> bool:
    """True when ``w``, a full training checkpoint, is that of an interrupted run (stopped before its own
    ``train_steps``) of ``cfg`` but for the learning-rate schedule and length, and both schedules gave
    every step taken so far the same rate: going on under ``cfg`` is then exactly the run that had
    ``cfg``'s schedule from the start (e.g. a decay brought forward before it began).  Raises when
    only the rates taken so far differ, naming the first step where they do."""
    if not isinstance(w.get("config"), dict):
        return False
    step = int(w["step"])
    try:
        own = Config(**w["config"])
    except Exception:                        # a config of another version: the hash check decides
        return False
    if own.hash != w["config_hash"] or own.train_steps <= step:
        return False
    schedule = {"train_steps": cfg.train_steps, "lr_decay_start": cfg.lr_decay_start, "lr_decay_end": cfg.lr_decay_end}
    if own.replace(**schedule).hash != cfg.hash:
        return False
    for s in range(step):
        if lr_at(own, s) != lr_at(cfg, s):
            raise ValueError(f"{weights} took step {s + 1} at a learning rate of {lr_at(own, s):g}, this schedule "
                             f"gives {lr_at(cfg, s):g}: an interrupted run may change its schedule only from its step {step} "
                             "on (e.g. lr_decay_start >= its step), or go on from its exported weights instead")
    return True


def model_from_checkpoint(ck: dict, cfg: Config, device=None, which: str = "ema",
                          channels_last: bool = False) -> torch.nn.Module:
    device = torch.device(device) if device is not None else default_device()
    model = build_model(cfg, ck["channels"])
    if channels_last:
        model.to_channels_last()
    try:
        model.load_state_dict(ck[which])
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint weights do not fit this config's U-Net ({str(e).splitlines()[0]}); "
                              "retrain (CLI --force, API force=True, make FORCE=1)") from None
    return model.to(device).eval().requires_grad_(False)


def train_or_load(cfg: Config, force: bool = False, progress: bool | None = None, device=None,
                  checkpoint: str | Path | None = None, channels_last: bool = False) -> tuple[torch.nn.Module, dict]:
    """The EMA network for ``cfg``, from (in order): its full checkpoint when the config hash
    matches and training finished; its EMA-only weights file (``cfg.weights_path``, committed for
    the smoke profile) when the hash matches; otherwise training (resuming a partial run).
    ``force`` retrains from scratch.  It only loads or trains: writing the weights file is the
    explicit step :func:`export_missing_weights`.  ``channels_last`` returns a channels-last
    network (faster sampling on CPU, equal up to float rounding)."""
    path = Path(checkpoint) if checkpoint is not None else cfg.checkpoint_path
    weights = cfg.weights_path
    if force and path.exists():
        path.unlink()
    ck = None
    if path.exists():
        ck = load_checkpoint(path, cfg)
        if ck["step"] < cfg.train_steps:
            ck = None
    if ck is None and weights.exists() and checkpoint is None and not force:
        w = load_checkpoint(weights, cfg)
        if w["step"] >= cfg.train_steps:
            ck = {**w, "ema": float_weights(w["ema"])}
    if ck is None:
        ck = train(cfg, checkpoint=path, progress=progress, device=device)
    if force and checkpoint is None and weights.exists():
        # retrained on request, but existing (committed) weights are never overwritten implicitly
        print(f"note: kept the existing weights {weights}; the retrained model is in {path} "
              f"(replace the weights with: python -m colddiff_lib train --profile {cfg.profile} "
              f"--task {cfg.task} --dataset {cfg.dataset}{' --tag ' + cfg.tag if cfg.tag else ''} --force)")
    # evaluate with the fp16-rounded EMA whichever file it came from, so that a fresh training run
    # and the committed weights give the same numbers
    ck = {**ck, "ema": {k: v.half().float() if v.is_floating_point() else v for k, v in ck["ema"].items()}}
    info = {k: ck[k] for k in ("step", "wall_s", "config_hash", "losses")}
    return model_from_checkpoint(ck, cfg, device, channels_last=channels_last), info


def export_missing_weights(cfg: Config) -> Path | None:
    """Export the EMA weights of ``cfg``'s finished checkpoint to ``cfg.weights_path`` (what
    ``restore --model`` and the model registry read), unless a weights file is there already: it may
    be committed, and is never overwritten here (``train --force`` replaces it on request).
    Returns the path written, or None when nothing was written."""
    weights, path = cfg.weights_path, cfg.checkpoint_path
    if weights.exists() or not path.exists():
        return None
    ck = load_checkpoint(path, cfg)
    if ck["step"] < cfg.train_steps:
        return None
    export_weights(ck, weights)
    return weights
