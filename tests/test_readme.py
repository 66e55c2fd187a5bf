"""Every command shown in the README is run here (with small sizes where needed), so the README
cannot drift from the code.  A command added to the README without a way to run it fails
`test_every_readme_command_is_covered`."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# the README and the pages it links to: every command on every page is run or parsed here
PAGES = ("README.md", "notebooks/README.md", "results/REPORT.md", "colddiff_lib/README.md", "benchmarks/README.md")
README = "\n".join((REPO / p).read_text() for p in PAGES)
PY = sys.executable
TINY = ["unet_dim=8", "dim_mults=(1,2)", "attn_heads=1", "attn_dim_head=8", "batch_size=4", "grad_accum=1"]


def readme_commands() -> list[str]:
    """Commands in ```bash blocks (comments stripped) and in inline code that starts like a command."""
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            if line:
                cmds.append(line)
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    for c in re.findall(r"`((?:make|python -m|torchrun|bash)\b[^`]*)`", prose):
        c = " ".join(c.split())
        if len(c.split()) > 1 or c == "make":
            cmds.append(c)
    return sorted(set(cmds))


def kind(cmd: str) -> str:
    if cmd.startswith("make"):
        return "make"
    for prefix in ("python -m colddiff_lib", "torchrun", "python -m benchmarks"):
        if cmd.startswith(prefix):
            return prefix
    return "unknown"


def test_every_readme_command_is_covered():
    cmds = readme_commands()
    assert len(cmds) >= 15
    unknown = [c for c in cmds if kind(c) == "unknown"]
    assert not unknown, f"README commands no test knows how to run: {unknown}"


def _env(**kw):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    e.update(kw)
    return e


def _have(dataset: str) -> bool:
    from colddiff_lib.data import DataError, load_dataset
    try:
        load_dataset(dataset, "test", 32)
        return True
    except DataError:
        return False


def run(args, cwd=REPO, timeout=300, **env):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_env(**env))


@pytest.mark.parametrize("cmd", [c for c in readme_commands() if kind(c) == "make"])
def test_make_commands(cmd):
    """Every make command of the README: its target exists and its variables are accepted (a dry
    run, -n, prints what it would do; PROFILE/FORCE are then checked for real by check-args)."""
    args = shlex.split(cmd)[1:]
    r = run(["make", "-n", "--no-print-directory", *args], timeout=120)
    assert r.returncode == 0, r.stderr
    variables = [a for a in args if "=" in a and a.split("=")[0] in ("PROFILE", "FORCE")]
    if any(a.startswith(("reproduce", "table", "figure")) for a in args):
        r = run(["make", "--no-print-directory", "check-args", *variables], timeout=60)
        assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """digit.png (a real MNIST digit, dark on light), photo.png, and a folder scans/."""
    from PIL import Image
    from colddiff_lib.data import load_dataset
    d = tmp_path_factory.mktemp("readme")
    x = load_dataset("mnist", "test", image_size=32).all()[:3]
    for i, name in enumerate(["digit.png", "photo.png", "scans/a.png", "scans/b.png"]):
        (d / name).parent.mkdir(exist_ok=True)
        a = ((1 - (x[i % 3, 0] + 1) / 2) * 255).round().byte().numpy()      # dark strokes on white paper
        Image.fromarray(a).resize((60, 60)).save(d / name)
    return d


@pytest.mark.parametrize("cmd", [c for c in readme_commands() if kind(c) == "python -m colddiff_lib"])
def test_cli_commands(cmd, images, tmp_path):
    # the test's own results folder and sizes replace a page's; the page's other settings are kept,
    # all in one --set (a repeated --set is refused)
    args, sets, in_set = [], [], False
    for a in shlex.split(cmd)[3:]:
        if a == "--set":
            in_set = True
        elif in_set and "=" in a and not a.startswith("-"):
            sets += [] if a.startswith(("results_dir=", "train_steps=")) else [a]
        else:
            in_set = False
            args.append(a)
    if args[0] == "train":                                  # small sizes, own results folder
        args += ["--steps", "2", "--no-progress", "--set", f"results_dir='{tmp_path}'", *sets, *TINY]
    elif args[0] == "table":                                # tiny network, 2 steps, 4 images, own results folder
        args += ["--n", "4", "--no-progress", "--set", f"results_dir='{tmp_path}'", "train_steps=2", *sets, *TINY]
    elif sets:
        args += ["--set", *sets]
    if args[0] == "models" and "--cards" in args:
        pytest.skip("rewrites committed cards")
    if args[0] == "restore" and args[1] == "blurred.png" and not (images / "blurred.png").exists():
        run([PY, "-m", "colddiff_lib", "degrade", "digit.png", "blurred.png", "--task", "deblur", "--t", "10"],
            cwd=images, PYTHONPATH=str(REPO))
    r = run([PY, "-m", "colddiff_lib", *args], cwd=images, PYTHONPATH=str(REPO))
    if "fashion-mnist" in args and not _have("fashion-mnist"):   # optional data: one line naming the fix
        assert r.returncode == 2 and "make fashion-mnist" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
        return
    assert r.returncode == 0, r.stderr
    if args[0] == "table":
        from colddiff_lib.tasks import get_task                  # the task owns its table (5 for a generator)
        task = args[args.index("--task") + 1] if "--task" in args else "deblur"
        profile = args[args.index("--profile") + 1]
        assert (tmp_path / profile / "tables" / f"table{get_task(task).table[0]}.csv").exists()
        if "--save-samples" in args:
            assert (tmp_path / profile / "samples" / f"{task}-{args[args.index('--dataset') + 1]}.npz").exists()
    if args[0] in ("restore", "degrade"):
        out = images / args[-1 - args[::-1].index(next(a for a in args[::-1] if a.endswith((".png", "/"))))]
        assert out.exists()


@pytest.mark.parametrize("cmd", [c for c in readme_commands() if kind(c) == "torchrun"])
def test_torchrun_command(cmd, tmp_path):
    """The README's multi-GPU command with 2 CPU ranks (gloo), a tiny network and 8 fake CelebA-HQ
    images: the paper profile's published schedule and image size (128), 2 steps."""
    from PIL import Image
    import numpy as np
    args = shlex.split(cmd)
    assert args[1] == "--nproc_per_node"
    args[2] = "2"
    folder = tmp_path / "data" / "celeba_hq"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (140, 140, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    torchrun = str(Path(PY).with_name("torchrun"))
    r = run([torchrun, *args[1:], "--steps", "2", "--no-progress", "--set", f"results_dir='{tmp_path / 'res'}'", *TINY],
            COLDDIFF_DATA=str(tmp_path / "data"), OMP_NUM_THREADS="1", timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "trained deblur-celeba" in r.stdout and (tmp_path / "res" / "paper" / "checkpoints").exists()


@pytest.mark.parametrize("cmd", [c for c in readme_commands() if kind(c) == "python -m benchmarks"])
def test_benchmark_commands(cmd):
    """Benchmarks take minutes and rewrite results/bench: here their command lines are parsed
    (--help); the fid stage of the GPU campaign runs for real in tests/test_gpu_campaign.py."""
    args = shlex.split(cmd)
    r = run([PY, *args[1:3], "--help"], timeout=120)
    assert r.returncode == 0 and "usage" in r.stdout
    if "--only" in args:                                    # each stage named is one the command offers
        for stage in args[args.index("--only") + 1].split(","):
            assert re.search(rf"\b{stage}\b", r.stdout), stage


def test_pages_exist_and_the_readme_is_a_guide():
    for p in PAGES:
        assert (REPO / p).exists(), p
    readme = (REPO / "README.md").read_text()
    assert len(readme) <= 10_000, f"the README is {len(readme)} characters; the narrative belongs in the pages"
    for p in PAGES[1:]:
        assert f"({p})" in readme, f"the README does not link {p}"
    image = re.search(r"!\[[^\]]*\]\(([^)]+)\)", readme).group(1)
    assert (REPO / image).exists(), image


def test_readme_results_table_quotes_the_committed_tables():
    """Each number of the README's results table equals the committed cpu table's (ours, rounded as
    shown) and the paper's reference value (theirs), so the summary cannot drift from the results."""
    import pandas as pd
    from colddiff_lib.reporting import paper_value
    readme = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| (\d), [a-z-]+ \| (Degraded|Sampled|Direct) \|(.*)\|$", readme, flags=re.M)
    assert len(rows) >= 8
    for table, column, rest in rows:
        cells = [c.strip() for c in rest.split("|")]
        committed = pd.read_csv(REPO / "results" / "cpu" / "tables" / f"table{table}.csv")
        row = committed[(committed.dataset == "mnist") & (committed.column == column)].iloc[0]
        assert int(row.N) == 10_000
        for (ours, paper), metric, digits in zip(zip(cells[::2], cells[1::2]), ("FID", "SSIM", "RMSE"), (2, 3, 3)):
            assert ours == f"{row[metric]:.{digits}f}", (table, column, metric, ours, row[metric])
            ref = paper_value(int(table), "mnist", column, metric)
            assert paper == ("-" if ref != ref else f"{ref:.{digits}f}"), (table, column, metric, paper, ref)


def test_readme_python_example_restores_digits():
    """The README's Python example runs as written and restores: Algorithm 2's output is nearer the
    held-out digits than x_T is (RMSE)."""
    from colddiff_lib import metrics
    code = re.search(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    x0, x_T, restored = scope["x0"], scope["x_T"], scope["restored"]
    assert restored.shape == x0.shape == (8, 1, 32, 32)
    assert metrics.rmse(restored, x0) < 0.85 * metrics.rmse(x_T, x0)
