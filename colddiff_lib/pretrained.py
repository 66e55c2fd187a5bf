"""Named pretrained models: the restoration networks this project ships, and users' own.

    from colddiff_lib import pretrained
    pretrained.list_models()                     # name, profile, task, dataset, shipped?, metrics
    model, info = pretrained.load("deblur-mnist")
    pretrained.register("deblur-celeba", "results/paper/checkpoints/deblur-celeba.pt",
                        profile="paper", task="deblur", dataset="celeba")

A shipped model is a (profile, task, dataset, tag) whose EMA weights are committed under
``results/<profile>/weights/`` (fp16), with a card beside them (``<file>.md``: what it was trained
on, for how long, its measured metrics and its limits).  Its weights are checked against the
config hash, so a model never loads into the wrong network.  ``register`` adds a user's checkpoint
(any profile, the paper's included) to ``<results_dir>/registry.json`` after checking its hash.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from .config import Config, get_config, results_root
from .data import installed
from .io import atomic_write_text
from .tasks import get_task
from .training import CheckpointError, float_weights, load_checkpoint, model_from_checkpoint


@dataclass(frozen=True)
class ModelSpec:
    name: str
    profile: str
    task: str
    dataset: str
    tag: str = ""
    path: str | None = None            # a user's checkpoint; None: the config's committed weights
    note: str = ""
    overrides: dict = field(default_factory=dict)

    def config(self) -> Config:
        kw = dict(self.overrides, task=self.task, dataset=self.dataset)
        if self.tag:
            kw["tag"] = self.tag
        return get_config(self.profile, **kw)

    def weights(self) -> Path:
        return Path(self.path) if self.path else self.config().weights_path

    def card(self) -> Path:
        return self.weights().with_suffix(".md")


# The shipped models: the cpu profile's real-data models first (the ones to use), then the smoke
# profile's (plumbing-scale, for CI and workshops).
SHIPPED = [
    ModelSpec("deblur-mnist", "cpu", "deblur", "mnist",
              note="MNIST deblurring, cpu profile, the profile's 3,000 steps on 2 CPU cores (Table 1 until 2026-12-04, "
                   "now `deblur-mnist-18542`'s rows)"),
    ModelSpec("inpaint-mnist", "cpu", "inpaint", "mnist", note="MNIST Gaussian-mask inpainting (Table 2), cpu profile"),
    ModelSpec("superres-mnist", "cpu", "superres", "mnist", note="MNIST 8x super-resolution (Table 3), cpu profile"),
    ModelSpec("inpaint-mnist-22151", "cpu", "inpaint", "mnist",
              overrides={"train_steps": 22151, "lr": 5e-5, "bf16": True},
              note="MNIST Gaussian-mask inpainting (Table 2), cpu profile, continued from `inpaint-mnist-8100` on 2 CPU "
                   "cores in bf16 autocast, at a learning rate of 2e-4 to 16,767 steps (its 15,212-step checkpoint, "
                   "`inpaint-mnist-15212`, is measured in the training-length ablation; its weights are no longer "
                   "shipped), then 5e-5 to 22,151: the model of Table 2's MNIST rows"),
    ModelSpec("deblur-mnist-18542", "cpu", "deblur", "mnist",
              overrides={"train_steps": 18542, "lr": 3e-4, "lr_decay_start": 14542, "lr_decay_end": 18542},
              note="MNIST deblurring (Table 1), cpu profile, the profile's own recipe (fp32, lr 1e-3) for 9,542 steps "
                   "on one H200 GPU (`deblur-mnist-9542`), then 5,000 more on 2 CPU cores, the rate falling linearly "
                   "from 1e-3 to 0 over the last 3,000 (`deblur-mnist-14542`, Table 1's model until 2026-12-06), then "
                   "4,000 more on 2 CPU cores from its training checkpoint (Adam kept), the rate restarted at 3e-4 and "
                   "falling linearly to 0: the model of Table 1's MNIST rows (the earlier weights are in git history)"),
    ModelSpec("superres-mnist-118000", "cpu", "superres", "mnist",
              overrides={"train_steps": 118000, "lr": 5e-5, "bf16": True, "lr_decay_start": 108000,
                         "lr_decay_end": 118000},
              note="MNIST 8x super-resolution (Table 3), cpu profile, continued from `superres-mnist` on 2 CPU cores in "
                   "bf16 autocast, at a learning rate of 2e-4 to 7,838 steps, then 5e-5 to 9,570 (`superres-mnist-9570`) "
                   "and on at 5e-5 to 30,000, 50,000, 72,000, 96,000 (`superres-mnist-96000`, Table 3's model until "
                   "2026-12-05, final) and 108,000, then with the rate falling linearly from 5e-5 to 0 over its last "
                   "10,000 steps to 118,000: the model of Table 3's MNIST rows (the weights of the earlier ones are in "
                   "git history, their rows in results/cpu/ablations/table3_superres_mnist_training_length_n10000.md)"),
    ModelSpec("hot-mnist-28866", "cpu", "hot", "mnist",
              overrides={"train_steps": 28866, "lr": 2e-4, "lr_decay_start": 22866, "lr_decay_end": 28866},
              note="MNIST hot diffusion (Table 5), cpu profile, `hot-mnist-22866` (22,866 steps at a learning rate of "
                   "2e-4 on 2 CPU cores, from `hot-mnist` by way of `hot-mnist-9026`; the weights of those two are no "
                   "longer shipped, their rows stay in results/cpu/ablations/steps_mnist.md) trained 6,000 steps more in fp32 "
                   "with the rate falling linearly from 2e-4 to 0: the model of Table 5's hot rows and their Figure "
                   "21 grids"),
    ModelSpec("deblur-fashion-mnist", "cpu", "deblur", "fashion-mnist",
              note="Fashion-MNIST deblurring (Table 1's MNIST settings on a second real dataset), cpu profile"),
    ModelSpec("superres-fashion-mnist", "cpu", "superres", "fashion-mnist",
              note="Fashion-MNIST 8x super-resolution (Table 3's MNIST settings on a second real dataset), cpu profile"),
    # the colour-only tables have no real data offline: cpu-scale models on a labelled stand-in
    ModelSpec("snow-cifar10-standin", "cpu", "snow", "cifar10-standin",
              note="Desnowification (Table 4) on the labelled STAND-IN for CIFAR-10 (crops of scikit-image / "
                   "scikit-learn sample photographs), cpu profile"),
    ModelSpec("decolor-cifar10-standin", "cpu", "decolor", "cifar10-standin",
              note="Colourisation (Section 4.5) on the labelled STAND-IN for CIFAR-10 (crops of scikit-image / "
                   "scikit-learn sample photographs), cpu profile"),
    *[ModelSpec(f"{task}-mnist", "cpu", task, "mnist",
                note=f"MNIST {what} ({where}), cpu profile; trained on an H100 in the GPU campaign with the "
                     "cpu profile's settings")
      for task, what, where in (("blurgen", "generation from blurred means", "Table 5 / Figure 21"),
                                ("hot", "hot diffusion, Gaussian noise as the degradation", "Table 5 until "
                                 "2026-12-04, then `hot-mnist-9026`'s rows, then `hot-mnist-22866`'s, now `hot-mnist-28866`'s; its own stay in results/REPORT.md"),
                                ("inpaintgen", "generation from a solid colour by inpainting", "Table 5"),
                                ("superresgen", "generation from 2x2 images by super-resolution", "Table 5"))],
    ModelSpec("deblur-mnist-workshop", "smoke", "deblur", "mnist", "workshop",
              note="MNIST deblurring, the workshop's model (dim 32, 1000 steps)"),
    ModelSpec("inpaint-mnist-workshop", "smoke", "inpaint", "mnist", "workshop",
              note="MNIST inpainting, the workshop's model (dim 32, 1000 steps)"),
    ModelSpec("deblur-mnist-smoke", "smoke", "deblur", "mnist", note="smoke scale: 200 steps, blobs, plumbing only"),
    ModelSpec("inpaint-mnist-smoke", "smoke", "inpaint", "mnist", note="smoke scale: 200 steps, plumbing only"),
    ModelSpec("superres-mnist-smoke", "smoke", "superres", "mnist", note="smoke scale: 200 steps, plumbing only"),
]


def _registry_file(results_dir: str | Path | None = None) -> Path:
    return results_root(results_dir) / "registry.json"


def _user_specs(results_dir=None) -> list[ModelSpec]:
    f = _registry_file(results_dir)
    if not f.exists():
        return []
    try:
        items = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{f} is not valid JSON ({e}); fix or delete it") from None
    return [ModelSpec(**it) for it in items]


def specs(results_dir=None) -> dict[str, ModelSpec]:
    """Every known model by name: the shipped ones and the user's registered ones."""
    out = {s.name: s for s in SHIPPED}
    out.update({s.name: s for s in _user_specs(results_dir)})
    return out


def cpu_models(task: str) -> list[str]:
    """The shipped cpu-profile models of a restoration task, one per dataset in the order shipped
    (MNIST first, then Fashion-MNIST where one is shipped; a colour-only task's labelled stand-in):
    the one whose row the committed table holds (a longer-trained model once it has been measured),
    else the profile's own.  What notebooks 03-06 and 08 lead with."""
    ours = [s for s in SHIPPED if s.profile == "cpu" and s.task == task and not s.tag]
    out = []
    for ds in dict.fromkeys(s.dataset for s in ours):
        cands = [s for s in ours if s.dataset == ds]
        measured = [s for s in cands if table_metrics(s)]
        out.append((measured or [s for s in cands if not s.overrides] or cands)[0].name)
    return out


def get_spec(name: str, results_dir=None) -> ModelSpec:
    all_ = specs(results_dir)
    if name not in all_:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(all_)} "
                         "(python -m colddiff_lib models lists them with their metrics)")
    return all_[name]


def generation_metrics(spec: ModelSpec) -> dict:
    """A generation model's Table 5 rows ({"<variant> FID": ..., "N": ...}), if written."""
    cfg = spec.config()
    f = cfg.results_path / "tables" / "table5.csv"
    if not f.exists() or spec.tag:
        return {}
    df = pd.read_csv(f)
    prefix = get_task(spec.task).label + ": "
    df = df[(df.dataset == spec.dataset) & df.column.str.startswith(prefix)]
    if "train steps" in df and len(df) and int(df["train steps"].iloc[0]) != cfg.train_steps:
        return {}
    return {f"{r.column.removeprefix(prefix)} FID": float(r.FID) for r in df.itertuples()} | (
        {"N": int(df.N.iloc[0])} if len(df) else {})


def table_metrics(spec: ModelSpec) -> dict:
    """The model's measured row (Sampled and Direct) of its table, if that table has been written
    (a generation model: its Table 5 rows)."""
    cfg = spec.config()
    if get_task(spec.task).kind == "generation":
        return generation_metrics(spec)
    table = (get_task(spec.task).table or (None,))[0]
    f = cfg.results_path / "tables" / f"table{table}.csv"
    if table is None or not f.exists() or spec.tag:
        return {}
    df = pd.read_csv(f)
    df = df[df.dataset == spec.dataset]
    if "train steps" in df and len(df) and int(df["train steps"].iloc[0]) != cfg.train_steps:
        return {}                          # the table is from another training length
    return {f"{r.column} {m}": float(getattr(r, m)) for r in df.itertuples() for m in ("FID", "SSIM", "RMSE")
            if r.column in ("Sampled", "Direct")} | ({"N": int(df.N.iloc[0])} if len(df) else {})


def list_models(results_dir=None) -> pd.DataFrame:
    rows = []
    for s in specs(results_dir).values():
        cfg = s.config()
        m = table_metrics(s)
        rows.append({"name": s.name, "profile": s.profile, "task": s.task, "dataset": s.dataset,
                     "available": s.weights().exists(), "config hash": cfg.hash,
                     "Sampled FID": m.get("Sampled FID"), "N": m.get("N"), "note": s.note})
    return pd.DataFrame(rows)


def load(name: str, device=None, results_dir=None, channels_last: bool = False):
    """(model, info) for a named model: the EMA network, evaluation-ready, and a dict with its
    spec, config, weights path, config hash, training steps and table metrics."""
    spec = get_spec(name, results_dir)
    cfg = spec.config()
    path = spec.weights()
    if not path.exists():
        raise CheckpointError(f"model {name!r} has no weights at {path}; {_how_to_train(spec)}")
    ck = load_checkpoint(path, cfg)
    ck = {**ck, "ema": float_weights(ck["ema"])}
    model = model_from_checkpoint(ck, cfg, device, channels_last=channels_last)
    info = {"name": name, "spec": spec, "config": cfg, "weights": path, "config_hash": cfg.hash,
            "step": ck["step"], "wall_s": ck.get("wall_s"), "channels": int(ck["channels"]),
            "metrics": table_metrics(spec)}
    return model, info


def _how_to_train(spec: ModelSpec) -> str:
    return ("train it: python -m colddiff_lib train --profile {p} --task {t} --dataset {d}"
            .format(p=spec.profile, t=spec.task, d=spec.dataset) + (f" --tag {spec.tag}" if spec.tag else "")
            + ", then export its weights (make reproduce does both)")


def unavailable(name: str, results_dir=None) -> str | None:
    """Why the named model cannot be run on this machine, in one line that names the fix, or None
    when it can: its weights are missing, or its dataset is not installed (Fashion-MNIST is
    optional).  Notebooks ask this before showing a model; :func:`load` and the demos of
    :mod:`colddiff_lib.experiments` raise instead.  No machine's path is printed."""
    spec = get_spec(name, results_dir)
    if not spec.weights().exists():
        return f"{name}: not shown, it has no weights here; {_how_to_train(spec)}"
    if not installed(spec.dataset):
        how = " (make fashion-mnist)" if spec.dataset == "fashion-mnist" else ""
        return f"{name}: not shown, its data ({spec.dataset}) is not installed here{how}"
    return None


def register(name: str, checkpoint: str | Path, profile: str, task: str, dataset: str, tag: str = "",
             results_dir=None, note: str = "", **overrides) -> ModelSpec:
    """Add a user's trained checkpoint under ``name`` (checked against its config hash first)."""
    if name in {s.name for s in SHIPPED}:
        raise ValueError(f"{name!r} is a shipped model's name; choose another")
    spec = ModelSpec(name, profile, task, dataset, tag, str(Path(checkpoint).resolve()), note, dict(overrides))
    load_checkpoint(spec.weights(), spec.config())            # refuses a corrupt file or another config
    items = [s for s in _user_specs(results_dir) if s.name != name] + [spec]
    atomic_write_text(_registry_file(results_dir), json.dumps([s.__dict__ for s in items], indent=1) + "\n")
    return spec


def device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device
