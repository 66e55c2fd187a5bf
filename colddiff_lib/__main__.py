"""Command line: ``python -m colddiff_lib {train,table,restore,degrade,models,prepare-fid,data} ...``.

    python -m colddiff_lib restore photo.png out.png --model deblur-mnist --sampler algorithm2
    python -m colddiff_lib degrade digit.png blurred.png --task deblur --t 10
    python -m colddiff_lib models                  # the named pretrained models and their metrics

    python -m colddiff_lib train --profile smoke --task deblur --dataset mnist
    python -m colddiff_lib train --profile smoke --task ddpm --dataset mnist        # the workshop's model
    python -m colddiff_lib train --profile smoke --task deblur --tag workshop
    python -m colddiff_lib train --profile paper --task deblur --dataset cifar10 --set batch_size=64
    torchrun --nproc_per_node 8 -m colddiff_lib train --profile paper --task deblur --dataset celeba

    # one dataset's rows of a paper table, merged into results/<profile>/tables/ (the other rows stay)
    python -m colddiff_lib table --profile cpu --task deblur --dataset fashion-mnist --n 1000
    python -m colddiff_lib table --profile cpu --task hot --dataset mnist --n 500      # Table 5, vs the test set
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist

from . import cards, env, experiments, precision, pretrained, reporting
from .common import default_device
from .config import PROFILES, get_config
from .data import load_dataset
from .metrics import fid_weights_path
from .restore import ImageInputError, degrade_files, restore_files
from .tasks import get_task
from .training import FIRST_SAVE_S, export_weights, train, warm_start


def _parse_set(items, **flags):
    """``--set key=value`` items as a dict; each key once. ``flags`` are the dedicated options already
    given (e.g. steps -> train_steps): a --set of the same field is a conflict, not a silent override."""
    out = {}
    for it in items or []:
        if "=" not in it:
            raise ValueError(f"--set wants key=value, got {it!r}")
        k, v = it.split("=", 1)
        k = k.strip()
        try:
            v = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            pass
        if k in out and out[k] != v:
            raise ValueError(f"--set {k} is given twice ({out[k]!r} and {v!r}); give it once")
        out[k] = v
    for field, (option, value) in flags.items():
        if value is not None and field in out and out[field] != value:
            raise ValueError(f"{option} {value!r} and --set {field}={out[field]!r} disagree; give one of them")
        if value is not None:
            out[field] = value
    return out


def _profile(given):
    """--profile, else COLDDIFF_PROFILE (make's PROFILE), else smoke; an unknown name is refused by get_config."""
    return given if given is not None else env.profile(PROFILES)


def _parser() -> argparse.ArgumentParser:
    """The command line: one subparser per command (each run by a ``_cmd_*`` function below)."""
    p = argparse.ArgumentParser(prog="python -m colddiff_lib", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train (or resume) a restoration network and write its checkpoint")
    tr.add_argument("--profile", default=None, help="smoke, cpu or paper (default: $COLDDIFF_PROFILE, else smoke)")
    tr.add_argument("--task", default="deblur")
    tr.add_argument("--dataset", default="mnist")
    tr.add_argument("--tag", default="", help="a named variant, e.g. 'workshop' (its own files and settings)")
    tr.add_argument("--steps", type=int, help="override train_steps")
    tr.add_argument("--set", nargs="*", action="extend", metavar="KEY=VALUE",
                    help="other config overrides (repeat --set or list several after one)")
    tr.add_argument("--checkpoint", help="checkpoint path (default results/<profile>/checkpoints/<task>-<dataset>.pt)")
    tr.add_argument("--force", action="store_true", help="retrain from scratch")
    tr.add_argument("--warm-start", metavar="WEIGHTS", help="go on from EMA-only weights (e.g. a committed "
                    "weights/*.pt) with a fresh optimiser, up to --steps, not exact resume; or from a finished run's "
                    "checkpoints/*.pt, keeping its Adam state (exact, under a longer run or a new lr schedule; an "
                    "interrupted run's too, where the new schedule agrees on the steps it took)")
    tr.add_argument("--warm-start-lr", type=float, metavar="LR", help="the learning rate the --warm-start weights "
                    "were trained at, when no profile uses it (their file keeps only the config hash)")
    tr.add_argument("--warm-start-decay", type=int, nargs=2, metavar=("START", "END"),
                    help="the steps over which the --warm-start weights' learning rate fell to 0 (their "
                    "lr_decay_start and lr_decay_end), to go on from them with a new schedule")
    tr.add_argument("--precision", default="config", choices=("config",) + precision.POLICIES,
                    help="config: the profile's bf16 field (fp32 in every profile); auto: bf16 autocast where this "
                    "machine has native bf16, else fp32 (sets bf16, so a bf16 model gets its own hash and files; "
                    "faster, but watch the loss: see benchmarks/README.md, precision)")
    tr.add_argument("--no-progress", action="store_true")
    rs = sub.add_parser("restore", help="restore your own image(s) with a named pretrained model")
    rs.add_argument("inputs", nargs="+", help="image files or folders")
    rs.add_argument("output", help="output PNG (one input) or folder")
    rs.add_argument("--model", default="deblur-mnist", help="a name from `python -m colddiff_lib models`")
    rs.add_argument("--sampler", default="algorithm2", help="direct, algorithm1 or algorithm2")
    rs.add_argument("--t", type=float, default=None, help="the degradation level of the input (default T)")
    rs.add_argument("--stride", type=int, default=1, help="algorithm2 visiting every k-th level: about t/k network "
                    "calls instead of t (beyond the paper; 1, the default, is the paper's sampler)")
    rs.add_argument("--seed", type=int, default=0, help="random masks/snow: use the seed the image was degraded with")
    dg = sub.add_parser("degrade", help="apply D(x0, t) to your own image(s)")
    dg.add_argument("inputs", nargs="+")
    dg.add_argument("output")
    dg.add_argument("--task", default="deblur")
    dg.add_argument("--dataset", default="mnist", help="whose published schedule to use")
    dg.add_argument("--t", type=float, default=None, help="level 1..T (default T)")
    dg.add_argument("--image-size", type=int, default=32)
    dg.add_argument("--seed", type=int, default=0)
    tb = sub.add_parser("table", help="one dataset's rows of a paper table (Tables 1-5), merged into "
                        "results/<profile>/tables/; trains the model first when it has no weights")
    tb.add_argument("--profile", default=None, help="smoke, cpu or paper (default: $COLDDIFF_PROFILE, else smoke)")
    tb.add_argument("--task", default="deblur", help="deblur, inpaint, superres, snow, decolor, or a generation "
                    "task (blurgen, hot, inpaintgen, superresgen: Table 5)")
    tb.add_argument("--dataset", default="mnist")
    tb.add_argument("--n", type=int, default=None, help="test images (restoration) or samples (generation); "
                    "default: the profile's n_eval / n_generate")
    tb.add_argument("--variants", nargs="*", default=None, help="generation variants (default: all of the task's)")
    tb.add_argument("--reference", default="test", choices=("train", "test"),
                    help="generation: the split the samples' FID is measured against")
    tb.add_argument("--set", nargs="*", action="extend", metavar="KEY=VALUE",
                    help="other config overrides (e.g. results_dir=...; repeat --set or list several after one)")
    tb.add_argument("--precision", default="auto", choices=precision.POLICIES,
                    help="the network's precision when sampling: auto (bf16 autocast where this machine has native "
                    "bf16, else fp32; default), fp32 or bf16; recorded in every row. FID features are always fp32")
    tb.add_argument("--replace", action="store_true", help="let a run on fewer images replace committed rows "
                    "measured on more (refused otherwise: write elsewhere with --set results_dir=DIR)")
    tb.add_argument("--save-samples", type=int, default=0, metavar="K",
                    help="generation: also save the first K samples of each variant (uint8, the layout of the "
                    "Figure 21 files) to results/<profile>/samples/<task>-<dataset>.npz")
    tb.add_argument("--no-progress", action="store_true")
    mo = sub.add_parser("models", help="list the named pretrained models")
    mo.add_argument("--cards", action="store_true", help="(re)write the model cards beside the weights")
    sub.add_parser("prepare-fid", help="convert the packaged FID Inception weights for torch-fidelity")
    da = sub.add_parser("data", help="check (or download) a dataset and print its size")
    da.add_argument("name")
    da.add_argument("--download", action="store_true")
    da.add_argument("--image-size", type=int, default=32)
    return p


def main(argv=None) -> int:
    """Parse, run one command, and turn every error into one line (exit status 2)."""
    a = _parser().parse_args(argv)
    try:
        COMMANDS[a.cmd](a)
    except KeyboardInterrupt:
        print(_interrupted(a), file=sys.stderr)
        return 130
    except Exception as e:      # every error is one line; COLDDIFF_TRACEBACK=1 shows the traceback
        if os.environ.get("COLDDIFF_TRACEBACK", "") == "1":
            raise
        print(f"error: {e}" if isinstance(e, (ValueError, TypeError, RuntimeError, OSError, KeyError))
              else f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    return 0


def _cmd_prepare_fid(a) -> None:
    """prepare-fid: convert the packaged FID Inception weights once."""
    print(f"FID Inception weights ready: {fid_weights_path()}")


def _cmd_data(a) -> None:
    """data NAME: check (or download) both splits of a dataset and say their size."""
    for split in ("train", "test"):
        ds = load_dataset(a.name, split, image_size=a.image_size, download=a.download, root=env.data_root())
        print(f"{ds.name} {split}: {len(ds)} images, {ds.channels} channel(s), from {ds.source}")


def _cmd_restore(a) -> None:
    """restore / degrade: your image files through a named model, or through D(x0, t)."""
    t = None if a.t is None else (int(a.t) if float(a.t).is_integer() else a.t)
    try:
        if a.cmd == "restore":
            recs = restore_files(a.inputs, a.output, model=a.model, sampler=a.sampler, t=t, seed=a.seed,
                                 stride=a.stride)
        else:
            recs = degrade_files(a.inputs, a.output, task=a.task, dataset=a.dataset, t=t,
                                 image_size=a.image_size, seed=a.seed)
    except ImageInputError as e:
        raise ValueError(str(e)) from None
    for r in recs:
        note = f" ({'; '.join(r['notes'])})" if r["notes"] else ""
        print(f"{r['input']} -> {r['output']} at t={r['t']}{note}")


def _cmd_models(a) -> None:
    """models [--cards]: the named pretrained models (and their cards, rewritten)."""
    if a.cards:
        for p in cards.write_cards():
            print(f"wrote {p}")
    df = pretrained.list_models()
    print(df.drop(columns=["config hash"]).to_string(index=False))


def _cmd_table(a) -> None:
    """table: one dataset's rows of a paper table, merged into results/<profile>/tables/."""
    over = _parse_set(a.set, task=("--task", a.task), dataset=("--dataset", a.dataset))
    over = {**env.config_overrides(), **over}
    if a.no_progress:
        over["progress"] = False
    cfg = get_config(_profile(a.profile), **over)
    _warn_if_paper_on_cpu(cfg)
    task = get_task(cfg.task)
    if task.kind != "generation" and a.variants is not None:
        raise ValueError(f"--variants is for generation tasks (Table 5); {cfg.task!r} has none: leave it out")
    if task.kind != "generation" and a.save_samples:
        raise ValueError(f"--save-samples is for generation tasks (Table 5); {cfg.task!r} is a restoration task: "
                         "leave it out")
    if not task.table:
        raise ValueError(f"task {cfg.task!r} has no paper table; use one of "
                         f"{', '.join(reporting.TABLES)} or a generation task")
    number, title = task.table                                  # the task owns its table
    n = a.n if a.n is None else experiments.requested_count(cfg, a.n, "test" if task.kind != "generation" else "train")
    have = reporting.committed_n(number, cfg, cfg.dataset)
    want = n if n is not None else (cfg.n_generate if task.kind == "generation" else cfg.n_eval)
    if have is not None and want < have and not a.replace:
        raise ValueError(f"{cfg.results_path / 'tables' / f'table{number}.csv'} holds {cfg.dataset} rows at "
                         f"N = {have}; a run at N = {want} would replace them: write elsewhere "
                         "(--set results_dir=DIR) or pass --replace")
    prec, why = precision.choose(a.precision, default_device(), task.fp32_sampling)
    print(f"precision: {why}")
    if task.kind == "generation":
        variants = a.variants or [v for v, _ in task.variants]
        for v in variants:
            task.variant(v)                                     # an unknown variant fails first
        rows, samples = experiments.generation_rows(cfg, variants, n=n, reference_split=a.reference, precision=prec)
        if a.save_samples > 0:
            print(f"samples saved to {experiments.save_samples(cfg, samples, a.save_samples)}")
    else:
        rows, _ = experiments.restoration_rows(cfg, number, n_eval=n, precision=prec)
    check = reporting.claims_for(task)
    for r in rows:
        r["eval on"] = precision.where(default_device())         # where the row was measured
    df = reporting.merge_table(rows, number, cfg, title, replace_larger=a.replace)
    print(pd.DataFrame(rows).drop(columns=["table"]).to_string(index=False))
    reporting.say_claims(check(df[df.dataset == cfg.dataset]))
    print(f"merged into {cfg.results_path / 'tables' / f'table{number}.csv'} ({len(df)} rows)")


def _cmd_train(a) -> None:
    """train: train (or resume, or warm-start) one model; export its EMA weights when done."""
    cfg = _train_config(a)
    why = "" if a.precision == "config" else f" ({_train_precision(a, cfg.task)[1]})"
    print(f"precision: {'bf16 autocast' if cfg.bf16 else 'fp32'} training" + why
          + ("; this machine has native bf16: --precision auto trains about 1.7x faster (another model, its own "
             "hash; watch the loss, a bf16 run here once spiked)"
             if a.precision == "config" and not cfg.bf16 and precision.native_bf16(default_device())
             and not get_task(cfg.task).fp32_sampling else ""))
    a.force = a.force or env.force()            # make's FORCE=1 / COLDDIFF_FORCE
    _warn_if_paper_on_cpu(cfg)
    _maybe_init_distributed()
    if a.warm_start:
        if a.force:
            raise ValueError("--warm-start starts a run from weights and --force retrains from scratch: "
                             "give one of them")
        target = Path(a.checkpoint or cfg.checkpoint_path)
        if target.exists():
            print(f"{target} exists: resuming it (--warm-start only starts a run)")
        else:
            warm_start(cfg, a.warm_start, target, weights_lr=a.warm_start_lr, weights_decay=a.warm_start_decay)
            kept = torch.load(target, map_location="cpu", weights_only=False)["warm_start"]["kept"]
            print(f"warm start: {target} begins at {a.warm_start} (kept: {kept})")
    ck = train(cfg, checkpoint=a.checkpoint, resume=not a.force)
    path = a.checkpoint or cfg.checkpoint_path
    if a.checkpoint is None and ck["step"] >= cfg.train_steps and (a.force or not cfg.weights_path.exists()):
        export_weights(ck, cfg.weights_path)                # the EMA weights `restore` and notebooks use
        print(f"exported EMA weights (fp16) to {cfg.weights_path}")
    last = sum(ck["losses"][-20:]) / max(1, len(ck["losses"][-20:]))
    print(f"trained {cfg.run_name} to step {ck['step']} in {ck['wall_s']:.0f}s "
          f"(recent l1 {last:.4f}); checkpoint {path}")


COMMANDS = {"prepare-fid": _cmd_prepare_fid, "data": _cmd_data, "restore": _cmd_restore, "degrade": _cmd_restore,
            "models": _cmd_models, "table": _cmd_table, "train": _cmd_train}


def _train_config(a):
    """The config a ``train`` command runs: --set, --task/--dataset/--tag/--steps, COLDDIFF_DATA and
    --precision (which sets ``bf16``); one place, so that the interrupt message names the same run."""
    over = _parse_set(a.set, task=("--task", a.task), dataset=("--dataset", a.dataset),
                      tag=("--tag", a.tag or None), train_steps=("--steps", a.steps))
    over = {**env.config_overrides(), **over}
    if a.no_progress:
        over["progress"] = False
    if a.precision != "config":
        if "bf16" in over:
            raise ValueError("--precision and --set bf16=... both set the training precision: give one")
        over["bf16"] = _train_precision(a, over.get("task") or get_config(_profile(a.profile), **over).task)[0] == "bf16"
    return get_config(_profile(a.profile), **over)


def _train_precision(a, task: str) -> tuple[str, str]:
    """--precision for training: as for sampling, a blur task keeps fp32 under auto (the network
    reads its inputs in the precision it trains in)."""
    return precision.choose(a.precision, default_device(), get_task(task).fp32_sampling)


def _interrupted(a) -> str:
    """What an interrupt left behind, truthfully: the checkpoint a train command can resume, or nothing."""
    if a.cmd != "train":
        return "interrupted: files are written atomically, so nothing half-written is left"
    try:
        path = Path(a.checkpoint or _train_config(a).checkpoint_path)
        step = torch.load(path, map_location="cpu", weights_only=False)["step"] if path.exists() else None
    except Exception:
        return "interrupted: no checkpoint could be read"
    if step is None:
        return (f"interrupted before the first checkpoint (written after {FIRST_SAVE_S:.0f} s of training): nothing was "
                "saved; the same command starts again from the beginning")
    return f"interrupted: {path} holds step {step}; run the same command again to resume from there"


# the measured cost of one paper-profile training step (dim 64, batch 32 x 2 accumulated) on 2 CPU cores
PAPER_CPU_S_PER_STEP = 8.0


def _warn_if_paper_on_cpu(cfg):
    if cfg.profile == "paper" and not torch.cuda.is_available():
        h = cfg.train_steps * PAPER_CPU_S_PER_STEP / 3600
        print(f"warning: the paper profile on a CPU: {cfg.train_steps} steps at about {PAPER_CPU_S_PER_STEP:.0f} s "
              f"each is about {h:,.0f} hours; use a GPU, or --profile cpu (about an hour per MNIST model)",
              file=sys.stderr)


def _maybe_init_distributed():
    """Under torchrun (WORLD_SIZE > 1) join the process group: nccl on GPUs, gloo on CPUs."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if torch.cuda.is_available():
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group(backend)


if __name__ == "__main__":
    sys.exit(main())
