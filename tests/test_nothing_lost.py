"""Nothing a user owns or the repository ships is lost, and every mistake gets one clear line
(issue #35), table-driven: each case is (id, what to do, the message that names the fix).  For the
cases that could lose data, the test also checks that the files are untouched afterwards."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colddiff_lib import env, experiments, metrics, reporting, restore
from colddiff_lib.__main__ import main as cli
from colddiff_lib.config import ConfigError, get_config
from colddiff_lib.degradations import DegradationError
from colddiff_lib.tasks import build_degradation
from colddiff_lib.training import (CHECKPOINT_VERSION, CheckpointError, DivergedError, export_weights,
                                   load_checkpoint, train)

from test_bad_input import TINY, snapshot

REPO = Path(__file__).resolve().parent.parent
D = build_degradation("deblur", "mnist", 32, 1)
Z = torch.zeros(2, 1, 32, 32) - 1


def digit(path: Path, mode: str = "L", **kw) -> Path:
    """A white-on-black 28x28 stroke written in ``mode`` (the same picture in every format)."""
    a = np.zeros((28, 28), np.float64)
    a[6:22, 12:16] = 1
    if mode == "L":
        Image.fromarray((a * 255).astype(np.uint8)).save(path, **kw)
    elif mode == "I;16":
        Image.fromarray((a * 65535).astype(np.uint16)).save(path)
    elif mode == "F":
        Image.fromarray((a * kw.get("scale", 1)).astype(np.float32)).save(path)
    elif mode == "RGBA-black-on-clear":
        rgba = np.zeros((28, 28, 4), np.uint8)
        rgba[..., 3] = (a * 255).astype(np.uint8)          # black strokes, transparent elsewhere
        Image.fromarray(rgba).save(path)
    return path


# --------------------------------------------------------------------------------------------
# the Python API: refusals with one line
# --------------------------------------------------------------------------------------------
API = [
    ("seed 10**23", lambda: get_config("smoke", seed=10**23), ConfigError, r"seed must be <= 4294967295"),
    ("T 3,000,000 (config)", lambda: get_config("smoke", T=3_000_000), ConfigError, r"T must be <= 10000"),
    ("T 3,000,000 (D)", lambda: build_degradation("deblur", "mnist", 32, 1, T=3_000_000), DegradationError,
     r"T must be in 1..10000 \(the paper's largest is 1000\), got 3000000"),
    ("D t='3'", lambda: D(Z, "3"), DegradationError, r"t must be an integer in 0..20 \(or one per image\), got '3' \(str\)"),
    ("D t=None", lambda: D(Z, None), DegradationError, r"t must be an integer in 0..20 \(or one per image\), got None"),
    ("ssim of 0..255", lambda: metrics.ssim(torch.rand(2, 1, 16, 16) * 255, torch.rand(2, 1, 16, 16) * 255),
     metrics.MetricsError, r"values in \[.*\]; metrics take images in \[-1, 1\]; for 0..255 images pass x / 127.5 - 1"),
    ("rmse of 0..1", lambda: metrics.rmse(torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)), metrics.MetricsError,
     r"both image batches lie in \[0, 1\] .*pass x \* 2 - 1"),
    ("features of 0..255 floats", lambda: metrics.extract_features(torch.rand(2, 3, 32, 32) * 255), metrics.MetricsError,
     r"metrics take images in \[-1, 1\]; for 0..255 images"),
    ("ssim of 8x8", lambda: metrics.ssim(torch.zeros(2, 1, 8, 8) - 1, torch.zeros(2, 1, 8, 8)), metrics.MetricsError,
     r"SSIM needs images of at least 11x11 pixels"),
    ("FID of 1 image", lambda: metrics.fid_from_features(torch.zeros(1, 2048), torch.rand(5, 2048)), metrics.MetricsError,
     r"FID needs at least 2 images per set, the first has 1"),
    ("FID of other widths", lambda: metrics.fid_from_features(torch.rand(4, 2048), torch.rand(4, 64)), metrics.MetricsError,
     r"feature widths differ \(2048 vs 64\)"),
    ("KID subset too large", lambda: metrics.kid_from_features(torch.rand(4, 8), torch.rand(4, 8), subset_size=10),
     metrics.MetricsError, r"KID subset_size must be in 2..4"),
    ("test images n=-5", lambda: experiments.test_images(get_config("smoke"), -5), ValueError,
     r"n must be a positive number of images, got -5"),
    ("requested n=0", lambda: experiments.requested_count(get_config("smoke"), 0), ValueError,
     r"n must be a positive number of images, got 0"),
    ("requested n past the split", lambda: experiments.requested_count(get_config("smoke"), 20_000), ValueError,
     r"n=20000 is more than the 10000 images there are; give at most 10000"),
    ("save_image, unknown format", lambda: restore.save_image(torch.zeros(1, 4, 4), "x.xyz"), restore.ImageInputError,
     r"cannot tell the image format of x.xyz; end the name with one of .png"),
    ("restore with a generator", lambda: restore.restore_files(["x.png"], "y.png", model="hot-mnist"), ValueError,
     r"'hot-mnist' is a generation model \(hot\): .*use a restoration model \(deblur-mnist"),
]


@pytest.mark.parametrize("call,exc,msg", [pytest.param(c, e, m, id=i) for i, c, e, m in API])
def test_api_refuses(call, exc, msg):
    with pytest.raises(exc, match=msg) as info:
        call()
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------
# your files: restore and degrade never overwrite an input or lose a result
# --------------------------------------------------------------------------------------------
FILES = [
    ("output is the input", lambda d: ([d / "a.png"], d / "a.png"), r"the output .*a.png is the input .*: it would be overwritten"),
    ("folder into itself", lambda d: ([d], d), r"the output folder .* holds input images; write the results to another folder"),
    ("two inputs, one name", lambda d: ([d / "a.png", d / "a.jpg"], d / "out"), r"a.png and .*a.jpg would both be written to .*out/a.png"),
    ("many inputs, one file", lambda d: ([d / "a.png", d / "b.png"], d / "c.png"), r"2 input images need an output folder, not the file"),
    ("output folder is a file", lambda d: ([d / "a.png", d / "b.png"], d / "note.txt"), r"the output .*note.txt is a file; 2 input image\(s\) need an output folder"),
    ("output under a file", lambda d: ([d / "a.png"], d / "note.txt" / "x.png"), r"cannot make the output folder .*note.txt: .*note.txt is a file"),
]


@pytest.fixture
def pictures(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    digit(d / "a.png")
    digit(d / "b.png")
    digit(d / "a.jpg")
    (d / "note.txt").write_text("a user's file")
    return d


@pytest.mark.parametrize("paths,msg", [pytest.param(p, m, id=i) for i, p, m in FILES])
@pytest.mark.parametrize("command", ["degrade", "restore"])
def test_files_are_never_overwritten(pictures, paths, msg, command, capsys):
    inputs, output = paths(pictures)
    before = snapshot(pictures.parent)
    extra = ["--model", "deblur-mnist-smoke", "--sampler", "direct"] if command == "restore" else []
    assert cli([command, *map(str, inputs), str(output), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and __import__("re").search(msg, err[0]), err
    assert snapshot(pictures.parent) == before, "a refused command changed the user's files"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_output_folder(pictures, capsys):
    ro = pictures.parent / "ro"
    ro.mkdir(mode=0o500)
    assert cli(["degrade", str(pictures / "a.png"), str(ro / "x.png")]) == 2
    assert "permission denied" in capsys.readouterr().err


@pytest.mark.parametrize("suffix,fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".jpeg", "JPEG"), (".bmp", "BMP"),
                                        (".tif", "TIFF"), (".webp", "WEBP")])
def test_the_output_format_is_the_one_its_name_says(pictures, suffix, fmt):
    restore.degrade_files([pictures / "a.png"], pictures.parent / f"out{suffix}")
    with Image.open(pictures.parent / f"out{suffix}") as im:
        assert im.format == fmt


# --------------------------------------------------------------------------------------------
# images as phones, scanners and editors write them: the same digit in every form
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode,kw,note", [
    ("I;16", {}, "16-bit"), ("F", {"scale": 1}, "float, 0..1"), ("F", {"scale": 255}, "float, 0..255"),
    ("RGBA-black-on-clear", {}, "transparency laid over white"),
])
def test_every_form_of_the_same_digit_gives_the_same_input(tmp_path, mode, kw, note):
    ref = restore.load_image(digit(tmp_path / "ref.png"), 1, 32, digits=True)
    p = restore.load_image(digit(tmp_path / ("x.tif" if mode == "F" else "x.png"), mode, **kw), 1, 32, digits=True)
    assert any(note in n for n in p.notes), p.notes
    assert float((p.x - ref.x).abs().max()) < 2 / 255 + 1e-6      # the digit, not a blank or all-white image


def test_float_image_out_of_range_is_refused(tmp_path):
    with pytest.raises(restore.ImageInputError, match=r"float image with values in \[0, 1000\]; save it scaled to 0..1"):
        restore.load_image(digit(tmp_path / "x.tif", "F", scale=1000), 1, 32)


def test_exif_rotation_is_applied(tmp_path):
    a = np.zeros((28, 28), np.uint8)
    a[2:6, :] = 255                                               # a bar along the top
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6                                              # "rotate 90 CW to display"
    im.save(tmp_path / "x.jpg", exif=exif, quality=100)
    p = restore.load_image(tmp_path / "x.jpg", 1, 28)
    assert "EXIF orientation applied" in p.notes
    # rows 2..5 turned clockwise are columns 22..25: the bar now stands on the right
    assert float(p.x[0, 0, :, 22:26].mean()) > 0.5 > float(p.x[0, 0, 2:6, :].mean())


# --------------------------------------------------------------------------------------------
# committed results are never replaced by a smaller run
# --------------------------------------------------------------------------------------------
def test_a_smaller_run_never_replaces_committed_rows(tmp_path, capsys):
    c = get_config("cpu", task="deblur", dataset="mnist", results_dir=str(tmp_path))
    rows = [{"table": 1, "dataset": "mnist", "column": col, "FID": 1.0, "N": 10_000} for col in ("Degraded", "Sampled", "Direct")]
    reporting.merge_table(rows, 1, c, "Deblurring")
    before = snapshot(tmp_path)
    small = [{**r, "FID": 99.0, "N": 2} for r in rows]
    with pytest.raises(reporting.SmallerRunError, match=r"holds the mnist Degraded row at N = 10000; this run has N = 2 .*--replace"):
        reporting.merge_table(small, 1, c, "Deblurring")
    assert snapshot(tmp_path) == before
    # the CLI refuses before it evaluates anything (the 10,000-image rows stay, nothing is computed)
    assert cli(["table", "--profile", "cpu", "--task", "deblur", "--n", "2", "--set", f"results_dir={str(tmp_path)!r}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds mnist rows at N = 10000; a run at N = 2 would replace them" in err[0], err
    assert snapshot(tmp_path) == before
    reporting.merge_table(small, 1, c, "Deblurring", replace_larger=True)   # asked for explicitly: replaced
    assert reporting.committed_n(1, c, "mnist") == 2


CLI = [
    ("table --n 0", ["table", "--n", "0"], r"n must be a positive number of images, got 0"),
    ("table --n -5", ["table", "--n", "-5"], r"n must be a positive number of images, got -5"),
    ("table --n past the split", ["table", "--n", "20000"], r"n=20000 is more than the 10000 images there are"),
    ("table --variants on a restorer", ["table", "--variants", "foo"], r"--variants is for generation tasks \(Table 5\); 'deblur' has none"),
    ("table --save-samples on a restorer", ["table", "--save-samples", "4"], r"--save-samples is for generation tasks \(Table 5\); 'deblur' is a restoration task"),
    ("--set twice, two values", ["train", "--set", "seed=1", "--set", "seed=2"], r"--set seed is given twice \(1 and 2\); give it once"),
    ("--steps vs --set train_steps", ["train", "--steps", "3", "--set", "train_steps=5"], r"--steps 3 and --set train_steps=5 disagree; give one of them"),
    ("--set seed out of range", ["train", "--set", "seed=100000000000000000000000"], r"seed must be"),
    ("--set T out of range", ["train", "--set", "T=3000000"], r"T must be <= 10000"),
]


@pytest.mark.parametrize("argv,msg", [pytest.param(a, m, id=i) for i, a, m in CLI])
def test_cli_refuses(argv, msg, capsys, tmp_path):
    before = snapshot(REPO / "results")
    assert cli(argv + ["--set", f"results_dir={str(tmp_path)!r}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and __import__("re").search(msg, err[0]), err
    assert snapshot(REPO / "results") == before


ENVIRONMENT = [
    ({"COLDDIFF_PROFILE": "foo"}, ["train"], r"COLDDIFF_PROFILE='foo' is not a profile; use smoke, cpu, paper"),
    ({"COLDDIFF_FORCE": "maybe"}, ["train"], r"COLDDIFF_FORCE='maybe' is not a yes/no value"),
    ({"COLDDIFF_DATA": "/nonexistent-colddiff"}, ["train"], r"COLDDIFF_DATA=/nonexistent-colddiff does not exist"),
]


@pytest.mark.parametrize("variables,argv,msg", ENVIRONMENT, ids=[next(iter(v)) for v, _, _ in ENVIRONMENT])
def test_cli_honours_or_refuses_its_environment(variables, argv, msg, capsys, monkeypatch, tmp_path):
    for k, v in variables.items():
        monkeypatch.setenv(k, v)
    assert cli(argv + ["--set", f"results_dir={str(tmp_path)!r}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and __import__("re").search(msg, err[0]), err


def test_notebook_profile_must_agree_with_the_environment(monkeypatch):
    monkeypatch.setenv("COLDDIFF_PROFILE", "cpu")
    with pytest.raises(env.EnvError, match=r"COLDDIFF_PROFILE='cpu' but the notebook's PROFILE is 'smoke'; pass -p PROFILE cpu"):
        env.check_notebook_profile("smoke")
    assert env.check_notebook_profile("cpu") == "cpu"


# --------------------------------------------------------------------------------------------
# make: destructive targets check their arguments and never leave the repository
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["PROFILE=smoke cpu"], ["PROFILE=../.."], ["PROFILE=/"]])
def test_clean_results_checks_its_profile(args, tmp_path):
    before = snapshot(REPO / "results")
    e = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    r = subprocess.run(["make", "--no-print-directory", "clean-results", *args], cwd=REPO, capture_output=True,
                       text=True, env=e, timeout=60)
    # (make may first warn about the odd pattern a space makes of the results folder; nothing runs)
    assert r.returncode == 2 and any(l.startswith("error: PROFILE=") and "is not a profile" in l for l in r.stderr.splitlines())
    assert snapshot(REPO / "results") == before


@pytest.mark.parametrize("value", ["-5", "0", "abc", "2.5"])
def test_make_refuses_a_bad_n_eval(value):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    r = subprocess.run(["make", "--no-print-directory", "table1", f"N_EVAL={value}"], cwd=REPO, capture_output=True,
                       text=True, env=e, timeout=60)
    assert r.returncode == 2 and r.stderr.splitlines()[0] == (
        f"error: N_EVAL='{value}' is not a positive number of images; use e.g. N_EVAL=1000, or leave it out")


# --------------------------------------------------------------------------------------------
# training fails loudly and never exports what is not finite
# --------------------------------------------------------------------------------------------
def test_a_refused_train_command_deletes_no_checkpoint(tmp_path):
    """`train --force --warm-start` is refused (give one of them); the run's existing checkpoint is
    still there, byte for byte (the CLI deleted it before refusing)."""
    c = get_config("smoke", results_dir=str(tmp_path))
    c.checkpoint_path.parent.mkdir(parents=True)
    c.checkpoint_path.write_bytes(b"a user's half-trained run")
    assert cli(["train", "--profile", "smoke", "--set", f"results_dir={str(tmp_path)!r}", "--force",
                "--warm-start", "w.pt"]) == 2
    assert c.checkpoint_path.read_bytes() == b"a user's half-trained run"


def test_divergence_stops_the_run_and_exports_nothing(tmp_path):
    c = get_config("smoke", image_size=16, results_dir=str(tmp_path), **{**TINY, "train_steps": 30, "lr": 1.0})
    ck = train(c, stop_after=1)
    # a finite checkpoint whose next Adam steps are ~1e30: what a far too large learning rate does, surely
    for st in ck["opt"]["state"].values():
        st["exp_avg"].fill_(1e30)
    torch.save(ck, c.checkpoint_path)
    with pytest.raises(DivergedError, match=r"training diverged at step \d+: .*\(lr 1.0\); lower the learning rate"):
        train(c)
    assert not c.weights_path.exists()
    assert cli(["train", "--profile", "smoke", "--set", f"results_dir={str(c.results_dir)!r}", "image_size=16",
                *[f"{k}={v!r}" for k, v in {**TINY, "train_steps": 30, "lr": 1.0}.items()]]) == 2
    assert not c.weights_path.exists()


def test_a_nan_checkpoint_is_not_resumed_and_nan_weights_not_exported(tmp_path):
    c = get_config("smoke", image_size=16, results_dir=str(tmp_path), **TINY)
    ck = train(c)
    bad = {**ck, "model": {k: torch.full_like(v, math.nan) if v.is_floating_point() else v for k, v in ck["model"].items()}}
    torch.save({**bad, "step": 1}, c.checkpoint_path)
    with pytest.raises(DivergedError, match=r"holds NaN or infinite weights: the run had diverged; delete it and retrain"):
        train(c)
    with pytest.raises(DivergedError, match=r"nothing exported"):
        export_weights({**ck, "ema": bad["model"]}, tmp_path / "w.pt")
    assert not (tmp_path / "w.pt").exists()


def test_a_checkpoint_from_a_newer_format_is_refused(tmp_path):
    c = get_config("smoke", image_size=16, results_dir=str(tmp_path), **TINY)
    ck = train(c)
    torch.save({**ck, "version": 999}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match=rf"format version 999; this colddiff reads versions 1..{CHECKPOINT_VERSION}"):
        load_checkpoint(tmp_path / "future.pt", c)


# --------------------------------------------------------------------------------------------
# SIGKILL: a killed run resumes bitwise, after the first and after the second checkpoint
# --------------------------------------------------------------------------------------------
def _train_cmd(results: Path, steps: int = 300):
    return [sys.executable, "-m", "colddiff_lib", "train", "--profile", "smoke", "--no-progress",
            "--set", "image_size=16", "unet_dim=8", "dim_mults=(1, 2)", "attn_heads=1", "attn_dim_head=8",
            "batch_size=4", f"train_steps={steps}", f"results_dir={str(results)!r}"]


def _checkpoint_step(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=False)["step"]
    except Exception:
        return None


@pytest.mark.parametrize("kill_after", [1, 2], ids=["after the first checkpoint", "after the second checkpoint"])
def test_sigkill_resumes_bitwise(tmp_path, kill_after):
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    e = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_train_cmd(ref_dir), check=True, capture_output=True, env=e, timeout=300)
    ck_path = run_dir / "smoke" / "checkpoints"
    p = subprocess.Popen(_train_cmd(run_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e)
    seen, deadline = set(), time.time() + 240
    while time.time() < deadline and p.poll() is None:
        files = list(ck_path.glob("*.pt")) if ck_path.exists() else []
        step = _checkpoint_step(files[0]) if files else None
        if step is not None:
            seen.add(step)
        if len(seen) >= kill_after:
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    p.wait(timeout=30)
    if p.returncode == 0:
        pytest.skip("the run finished before it could be killed (a very fast machine)")
    assert p.returncode == -signal.SIGKILL and len(seen) >= kill_after
    subprocess.run(_train_cmd(run_dir), check=True, capture_output=True, env=e, timeout=300)   # the same command
    (a,), (b,) = (list((d / "smoke" / "checkpoints").glob("*.pt")) for d in (ref_dir, run_dir))
    ra, rb = torch.load(a, weights_only=False), torch.load(b, weights_only=False)
    assert ra["step"] == rb["step"] == 300 and ra["losses"] == rb["losses"]
    for part in ("model", "ema"):
        for k in ra[part]:
            assert torch.equal(ra[part][k], rb[part][k]), (part, k)
    for sa, sb in zip(ra["opt"]["state"].values(), rb["opt"]["state"].values()):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"]) and torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"])


def test_an_interrupt_tells_the_truth(tmp_path, capsys, monkeypatch):
    import colddiff_lib.__main__ as main_mod

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(main_mod, "train", interrupted)
    argv = ["train", "--profile", "smoke", "--set", f"results_dir={str(tmp_path)!r}"]
    assert cli(argv) == 130
    assert "interrupted before the first checkpoint (written after 60 s of training): nothing was saved" in capsys.readouterr().err
    c = get_config("smoke", results_dir=str(tmp_path))
    c.checkpoint_path.parent.mkdir(parents=True)
    torch.save({"step": 42}, c.checkpoint_path)
    assert cli(argv) == 130
    assert f"{c.checkpoint_path} holds step 42; run the same command again to resume from there" in capsys.readouterr().err
    # a run whose precision was set by --precision names its own checkpoint (bf16 is part of the hash)
    c16 = get_config("smoke", results_dir=str(tmp_path), bf16=True)
    c16.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"step": 7}, c16.checkpoint_path)
    assert cli(argv + ["--precision", "bf16"]) == 130
    assert f"{c16.checkpoint_path} holds step 7; run the same command again" in capsys.readouterr().err


def test_the_tables_count_their_cases():
    """The case tables of this file and test_bad_input.py, counted from the tables themselves."""
    import test_bad_input as b
    n = sum(len(t) for t in (API, FILES, CLI, ENVIRONMENT, b.API, b.ENV_CASES, b.CLI))
    assert n >= 150, n


def test_legitimate_images_outside_minus_one_one_are_measured():
    """Hot diffusion's noisy x_t (about +-6) and bicubic overshoot are images in [-1, 1] plus noise:
    measured (clamped), not refused; only another convention (0..255) is."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 1, 16, 16, generator=g) * 2 - 1
    noisy = x0 + 2.0 * torch.randn(4, 1, 16, 16, generator=g)
    assert float(noisy.abs().max()) > 4
    assert 0 < metrics.rmse(noisy, x0) < 1 and -1 < metrics.ssim(noisy, x0) < 1


@pytest.mark.parametrize("value,msg", [("$HOME/runs", r"results_dir='\$HOME/runs' holds a shell variable that was not expanded"),
                                       ("${X}", r"holds a shell variable")])
def test_a_path_the_shell_did_not_expand_is_refused(value, msg):
    with pytest.raises(ConfigError, match=msg):
        get_config("smoke", results_dir=value)


def test_a_tilde_path_is_expanded_as_a_shell_would():
    assert get_config("smoke", results_dir="~/colddiff-runs").results_root == Path("~/colddiff-runs").expanduser()


def test_papermill_with_another_colddiff_profile_is_refused(tmp_path):
    """COLDDIFF_PROFILE=cpu with a papermill run that leaves PROFILE at the notebook's smoke: refused
    before anything runs (it used to run the smoke profile without a word)."""
    e = {**{k: v for k, v in os.environ.items() if not k.startswith("MAKE")}, "COLDDIFF_PROFILE": "cpu"}
    r = subprocess.run([sys.executable, "-m", "papermill", "notebooks/01_degradations.ipynb", str(tmp_path / "o.ipynb"),
                        "-k", "colddiff", "--log-level", "ERROR"], cwd=REPO, capture_output=True, text=True, env=e,
                       timeout=300)
    assert r.returncode != 0 and "COLDDIFF_PROFILE='cpu' but the notebook's PROFILE is 'smoke'; pass -p PROFILE cpu" in r.stderr
