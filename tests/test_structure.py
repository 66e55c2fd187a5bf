"""The house rules of issue #11, checked: one module per concept, imports of the package's own
modules at the top of files, environment variables read only at the edges, one output root."""
import ast
import re
import subprocess
from pathlib import Path

import pytest

from colddiff_lib import tasks
from colddiff_lib.config import get_config

LIB = Path(__file__).resolve().parent.parent / "colddiff_lib"
MODULES = sorted(LIB.glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_import_of_a_sibling_module_inside_a_function(path):
    tree = ast.parse(path.read_text())
    bad = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("colddiff_lib")):
                    bad.append(f"{fn.name} (line {node.lineno})")
    assert not bad, f"{path.name} imports colddiff modules inside functions: {bad}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_private_name_is_imported_across_modules(path):
    tree = ast.parse(path.read_text())
    private = [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0
               for a in n.names if a.name.startswith("_")]
    assert not private, f"{path.name} imports private names {private}"


def test_environment_variables_are_read_only_at_the_edges():
    readers = {p.name for p in MODULES if re.search(r"COLDDIFF_\w+", p.read_text())}
    assert readers <= {"env.py", "__main__.py"}, readers


def test_one_task_list():
    # the config accepts exactly the task list's tasks, and names them when refusing one (a second
    # list kept in config would drift from tasks.TASKS and fail here)
    from colddiff_lib.config import ConfigError
    with pytest.raises(ConfigError) as e:
        get_config("smoke", task="no-such-task")
    assert str(e.value).endswith("valid tasks: " + ", ".join(tasks.TASKS))
    for name, t in tasks.TASKS.items():                # every listed task makes a config, on its own datasets
        get_config("smoke", task=name, dataset=(t.datasets or ("mnist",))[0])
    for name, t in tasks.TASKS.items():
        assert t.name == name and t.kind in ("restoration", "generation", "workshop")
        assert (t.schedule is None) == (t.kind == "workshop")
        if t.kind == "generation":
            assert t.variants and t.label


def test_every_writer_takes_its_folder_from_the_config(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from colddiff_lib import plotting, reporting
    c = get_config("cpu", results_dir=str(tmp_path))
    fig = plt.figure()
    assert plotting.savefig(fig, "x", c) == tmp_path / "cpu" / "figures" / "x.png"
    reporting.write_table([{"dataset": "mnist", "column": "Sampled", "FID": 1.0}], 9, c, "t")
    assert (tmp_path / "cpu" / "tables" / "table9.csv").exists() and (tmp_path / "cpu" / "figures" / "x.pdf").exists()
    with pytest.raises(TypeError, match="savefig takes the run's Config"):
        plotting.savefig(fig, "x", "cpu")


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[1].glob("results/*/weights/*.pt")), ids=lambda p: p.name)
def test_committed_weights_load_anywhere_with_a_plain_torch_load(path):
    """Weights exported on a GPU once held CUDA tensors: torch.load then fails on a CPU machine
    unless told map_location.  Every committed file must load as it is (weights_only, on the CPU)."""
    import torch
    blob = torch.load(path, weights_only=True)
    assert {v.device.type for v in blob["ema"].values()} == {"cpu"} and len(blob["config_hash"]) == 16


def test_shipped_weights_fit_the_repository_budget():
    """Issue #10: all committed weights (fp16 EMA; the shipped models and the smoke stand-ins)
    together stay within 80 MiB (issues #32 and #36), and every shipped model has its weights and card."""
    from colddiff_lib import pretrained
    root = Path(__file__).parents[1] / "results"
    shipped = [s.weights() for s in pretrained.SHIPPED]
    assert all(f.exists() and f.with_suffix(".md").exists() for f in shipped), [f for f in shipped if not f.exists()]
    # the files git tracks (weights a user trained locally, e.g. by make reproduce PROFILE=cpu, are
    # not committed); outside a git checkout, every weights file
    try:
        out = subprocess.run(["git", "ls-files", "results/*/weights/*.pt"], cwd=root.parent, capture_output=True,
                             text=True, check=True).stdout.split()
        files = [root.parent / f for f in out] if out else list(root.glob("*/weights/*.pt"))
    except (OSError, subprocess.CalledProcessError):
        files = list(root.glob("*/weights/*.pt"))
    assert files
    total = sum(f.stat().st_size for f in files)
    assert total <= 80 * 2 ** 20, f"committed weights {total / 2 ** 20:.1f} MiB > 80 MiB"


@pytest.mark.parametrize("n,cols", [(32, 8), (400, 20), (64, 8), (8, 4), (7, 3), (1, 1), (10, 5), (2, 2)])
def test_grid_columns_fill_rows_when_a_divisor_allows(n, cols):
    from colddiff_lib.plotting import grid_columns
    assert grid_columns(n) == cols
    rows = -(-n // cols)
    assert cols >= rows                                       # never taller than wide
    if any(n % d == 0 and d * d >= n and d * d <= 4 * n for d in range(1, n + 1)):
        assert n % cols == 0                                  # full rows where a divisor allows


def test_importing_colddiff_first_makes_openmp_threads_sleep_not_spin():
    """colddiff_lib sets OMP_WAIT_POLICY=PASSIVE before torch is imported (two jobs on the same cores
    starve each other under libgomp's spinning default: make bench, "threads"); a user's value wins."""
    import os
    import subprocess
    import sys
    code = "import colddiff_lib, os, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ACTIVE"


def test_config_is_a_leaf():
    """config imports nothing of the package but paths (issue #33): the names it checks and the
    schedule revision in its hash are registered by tasks."""
    tree = ast.parse((LIB / "config.py").read_text())
    own = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0}
    assert own <= {"paths"}, own


# the package's layers, lowest first: a module imports only from its own layer or below (issue #33);
# colddiff_lib/README.md draws the same map
LAYERS = (
    ("base", {"paths", "io", "common", "precision"}),
    ("config", {"config"}),
    ("core", {"degradations", "unet", "ddpm", "objectives", "sampling", "trainer", "data", "env"}),
    ("tasks", {"tasks", "plans"}),
    ("training", {"training"}),
    ("evaluation", {"metrics", "neighbours", "reporting", "plotting", "pretrained", "cards"}),
    ("runs", {"experiments", "analyses", "restore"}),
    ("entry", {"__main__", "__init__"}),
)


def test_imports_point_one_way():
    """Every module of the package sits in one layer of LAYERS and imports nothing above it: the core
    (D, R, the losses, the samplers, the training loop, the data) knows nothing of tasks, tables or
    the CLI."""
    layer = {m: i for i, (_, mods) in enumerate(LAYERS) for m in mods}
    files = {f.stem: f for f in LIB.glob("*.py")}
    assert set(files) == set(layer), set(files) ^ set(layer)
    for name, f in files.items():
        tree = ast.parse(f.read_text())
        deps = {(n.module or a.name).split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and n.level == 1 for a in n.names}
        above = {d for d in deps if layer[d] > layer[name]}
        assert not above, f"{name} ({LAYERS[layer[name]][0]}) imports {above} from a layer above it"


def test_each_task_owns_its_table():
    """The table a task's rows go into, and the claims checked there, are read from the task: the
    paper's Tables 1-4 for its restorations, Table 5 for every generation task, none for the workshop."""
    from colddiff_lib import reporting
    from colddiff_lib.tasks import TASKS
    numbers = {name: t.table[0] for name, t in TASKS.items() if t.table}
    assert numbers == {"deblur": 1, "inpaint": 2, "superres": 3, "snow": 4, "decolor": 8, "animorph": 5,
                       "hot": 5, "blurgen": 5, "inpaintgen": 5, "superresgen": 5}
    for t in TASKS.values():
        if t.table:
            want = reporting.generation_claims if t.kind == "generation" else reporting.claims
            assert reporting.claims_for(t) is want, t.name
    assert set(reporting.TABLES) == {n for n, t in TASKS.items() if t.kind == "restoration"}


def test_one_row_schema_for_every_table():
    """Restoration, generation and the GPU campaign write rows through reporting.table_row: the paper's
    value beside each score (golden: Table 2 MNIST Sampled FID 1.61, SSIM and RMSE unknown there, so NaN),
    and the same leading columns in the same order."""
    import math
    from colddiff_lib import reporting
    from colddiff_lib.config import get_config
    cfg = get_config("cpu", task="inpaint")
    r = reporting.table_row(cfg, 2, "Sampled", {"FID": 1.86, "SSIM": 0.937, "RMSE": 0.076}, n=10000,
                            reference="mnist test", T=50, step=15212, train_s=13014.06, precision="bf16")
    assert r["paper FID"] == 1.61 and math.isnan(r["paper SSIM"]) and r["train s"] == 13014.1
    assert list(r)[:9] == ["table", "dataset", "column", "FID", "SSIM", "RMSE", "paper FID", "paper SSIM", "paper RMSE"]
    g = reporting.table_row(get_config("cpu", task="blurgen"), 5, "blur: broken symmetry", {"FID": 80.0}, n=10,
                            reference="mnist train", T="published", step=1, train_s=1.0, device="cpu")
    assert list(g)[:5] == ["table", "dataset", "column", "FID", "paper FID"] and list(g)[-1] == "device"
    for src in ("colddiff_lib/experiments.py", "benchmarks/gpu_campaign.py"):    # nobody builds rows by hand
        assert '"paper FID":' not in (LIB.parent / src).read_text(), src


def test_every_notebook_cell_has_an_id():
    """nbformat 4.5 requires cell ids (a missing one is a warning on every run, and a future error)."""
    import json
    for f in sorted((LIB.parent / "notebooks").glob("*.ipynb")):
        nb = json.loads(f.read_text())
        assert (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5), f.name
        missing = [i for i, c in enumerate(nb["cells"]) if not c.get("id")]
        assert not missing, f"{f.name}: cells {missing} have no id"
