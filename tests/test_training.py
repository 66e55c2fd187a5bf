import os

import pytest
import torch

from colddiff_lib.config import get_config
from colddiff_lib.data import load_dataset
from colddiff_lib.io import atomic_write
from colddiff_lib.trainer import shorter_run
from colddiff_lib.training import (CheckpointError, export_missing_weights, export_weights, load_checkpoint,
                                   train, train_or_load, warm_start)

TINY = dict(unet_dim=8, dim_mults=(1, 2), attn_heads=1, attn_dim_head=8, batch_size=4, grad_accum=2,
            ema_every=1, ema_start=3, ema_decay=0.9, lr=1e-3, image_size=16, progress=False)


@pytest.fixture(scope="module")
def tiny_data():
    ds = load_dataset("mnist", "test", image_size=16, root="/nonexistent-colddiff").subset(torch.arange(64))
    ds.split = "train"
    return ds


def assert_same_run(a: dict, b: dict, what: str) -> None:
    """Two training checkpoints hold the same network, EMA and losses, bit for bit."""
    for key in ("model", "ema"):
        for k, v in a[key].items():
            assert torch.equal(v, b[key][k]), f"{key}.{k} differs {what}"
    assert a["losses"] == b["losses"]


@pytest.mark.parametrize("task", ["deblur", "inpaint"])
def test_resume_equals_uninterrupted(tmp_path, tiny_data, task):
    cfg = get_config("smoke", task=task, train_steps=6, **TINY)
    full = train(cfg, checkpoint=tmp_path / "a.pt", data=tiny_data, save_every=100)
    part = train(cfg, checkpoint=tmp_path / "b.pt", data=tiny_data, stop_after=3, save_every=100)
    assert part["step"] == 3
    torch.manual_seed(12345)                    # a resumed process starts with other global RNG state
    resumed = train(cfg, checkpoint=tmp_path / "b.pt", data=tiny_data, save_every=100)
    assert resumed["step"] == 6
    assert_same_run(full, resumed, "after resume")


def test_sigterm_saves_the_finished_step_and_resumes_exactly(tmp_path, tiny_data):
    """SIGTERM (kill, a scheduler, a machine going down) between checkpoints: training finishes the
    step it is in, saves it and stops (TrainingStopped, a KeyboardInterrupt), and the same call then
    resumes to a result equal to an uninterrupted run; the previous SIGTERM handler is restored."""
    import os
    import signal
    from colddiff_lib.training import TrainingStopped
    cfg = get_config("smoke", train_steps=6, **TINY)
    full = train(cfg, checkpoint=tmp_path / "a.pt", data=tiny_data, save_every=100)

    class Killing:                           # the data set sends SIGTERM while step 3's batch is drawn
        def __init__(self, ds):
            self.ds, self.calls = ds, 0

        def __getattr__(self, name):
            return getattr(self.ds, name)

        def __len__(self):
            return len(self.ds)

        def batch(self, *a, **k):
            self.calls += 1
            if self.calls == 2 * cfg.grad_accum + 1:
                os.kill(os.getpid(), signal.SIGTERM)
            return self.ds.batch(*a, **k)

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingStopped, match="stopped by SIGTERM after step 3: .*b.pt holds it"):
        train(cfg, checkpoint=tmp_path / "b.pt", data=Killing(tiny_data), save_every=100)
    assert signal.getsignal(signal.SIGTERM) is before
    assert load_checkpoint(tmp_path / "b.pt", cfg)["step"] == 3          # saved although save_every is 100
    resumed = train(cfg, checkpoint=tmp_path / "b.pt", data=tiny_data, save_every=100)
    assert_same_run(full, resumed, "after SIGTERM and resume")


def test_longer_run_goes_on_from_a_shorter_one(tmp_path, tiny_data, capsys, monkeypatch):
    """Asking for more steps (--set train_steps=N) continues the saved shorter run of the same config,
    and equals a run trained to N from scratch; a run of another config is never taken."""
    import colddiff_lib.training as T
    monkeypatch.setattr(T, "load_data", lambda c, split: tiny_data)
    short = get_config("smoke", train_steps=3, results_dir=str(tmp_path / "r"), **TINY)
    train(short, data=tiny_data, save_every=100)
    other = short.replace(lr=short.lr * 2, train_steps=4)       # another config, further along
    train(other, data=tiny_data, save_every=100)
    longer = short.replace(train_steps=6)
    assert longer.checkpoint_path != short.checkpoint_path          # the hash covers train_steps
    torch.manual_seed(999)
    _, info = train_or_load(longer)                                   # the CLI's and notebooks' route
    assert f"from {short.checkpoint_path} (step 3" in capsys.readouterr().out
    went_on = load_checkpoint(longer.checkpoint_path, longer)
    assert info["step"] == 6
    assert went_on["step"] == 6 and went_on["config_hash"] == longer.hash
    assert load_checkpoint(longer.checkpoint_path, longer)["step"] == 6   # saved under its own name
    assert load_checkpoint(short.checkpoint_path, short)["step"] == 3     # the shorter run is kept
    scratch = train(longer, checkpoint=tmp_path / "scratch.pt", data=tiny_data, save_every=100)
    assert_same_run(scratch, went_on, "from a run trained to 6 from scratch")
    assert shorter_run(longer.replace(train_steps=2)) is None       # never a run that went past the goal


def test_a_run_goes_on_from_a_shorter_run_further_along_than_its_own_checkpoint(tmp_path, tiny_data, capsys):
    """A run to 8 stopped at 2, then a run to 5 of the same config (which goes on from it to 5): asked
    for 8 again, training goes on from the 5-step run, not from its own step-2 checkpoint, and is bit
    for bit a run trained to 8 from scratch (a super-resolution run to 100,000 once went back 20,000
    steps this way)."""
    longer = get_config("smoke", train_steps=8, results_dir=str(tmp_path / "r"), **TINY)
    train(longer, data=tiny_data, stop_after=2, save_every=100)
    at5 = longer.replace(train_steps=5)
    assert train(at5, data=tiny_data, save_every=100)["step"] == 5
    capsys.readouterr()
    done = train(longer, data=tiny_data, save_every=100)
    out = capsys.readouterr().out
    assert f"from {at5.checkpoint_path} (step 5" in out and "own checkpoint (step 2) is behind" in out
    assert done["step"] == 8 and load_checkpoint(longer.checkpoint_path, longer)["step"] == 8
    assert load_checkpoint(at5.checkpoint_path, at5)["step"] == 5          # the shorter run is kept
    scratch = train(longer, checkpoint=tmp_path / "scratch.pt", data=tiny_data, save_every=100)
    assert_same_run(scratch, done, "from a run trained to 8 from scratch")
    again = train(longer, data=tiny_data, save_every=100)                    # its own is now the furthest
    assert again["step"] == 8 and "continuing" not in capsys.readouterr().out


def test_a_longer_run_stopped_early_is_finished_at_the_step_it_reached(tmp_path, tiny_data):
    """A constant-rate run to 6 steps stopped at 3 (SIGTERM; here stop_after) is a run to 3: asked for
    train_steps=3 with the same settings, training goes on from its checkpoint without taking a step and
    saves it under the 3-step config's hash, bit for bit a run trained to 3 from scratch (how
    superres-mnist-30000 was finished from a run to 60,000)."""
    longer = get_config("smoke", train_steps=6, results_dir=str(tmp_path / "r"), **TINY)
    train(longer, data=tiny_data, stop_after=3, save_every=100)
    assert load_checkpoint(longer.checkpoint_path, longer)["step"] == 3
    at3 = longer.replace(train_steps=3)
    done = train(at3, data=tiny_data, save_every=100)
    assert done["step"] == 3 and done["config_hash"] == at3.hash != longer.hash
    assert load_checkpoint(at3.checkpoint_path, at3)["step"] == 3          # saved under its own name
    assert load_checkpoint(longer.checkpoint_path, longer)["step"] == 3    # the longer run is kept
    scratch = train(at3, checkpoint=tmp_path / "scratch.pt", data=tiny_data, save_every=100)
    assert_same_run(scratch, done, "from a run trained to 3 from scratch")


def test_ema_is_a_copy_before_start_then_averages(tmp_path, tiny_data):
    cfg = get_config("smoke", train_steps=2, **TINY)
    ck = train(cfg, checkpoint=tmp_path / "c.pt", data=tiny_data)
    assert all(torch.equal(ck["model"][k], ck["ema"][k]) for k in ck["model"])
    ck = train(cfg.replace(train_steps=5), checkpoint=tmp_path / "d.pt", data=tiny_data)
    assert any(not torch.equal(ck["model"][k], ck["ema"][k]) for k in ck["model"])


def test_train_or_load_uses_cache_and_refuses_others(tmp_path, tiny_data, monkeypatch):
    cfg = get_config("smoke", train_steps=2, results_dir=str(tmp_path), **TINY)
    import colddiff_lib.training as T
    monkeypatch.setattr(T, "load_data", lambda c, split: tiny_data)
    model, info = train_or_load(cfg)
    assert info["step"] == 2 and cfg.checkpoint_path.exists()
    mtime = os.stat(cfg.checkpoint_path).st_mtime_ns
    model2, _ = train_or_load(cfg)
    assert os.stat(cfg.checkpoint_path).st_mtime_ns == mtime        # not retrained
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), model2.state_dict().values()))
    other = cfg.replace(lr=0.5)
    assert other.checkpoint_path != cfg.checkpoint_path and other.weights_path != cfg.weights_path  # never collide
    with pytest.raises(CheckpointError, match="trained with another config.*--force, API force=True, make FORCE=1"):
        train_or_load(other, checkpoint=cfg.checkpoint_path)
    model3, info3 = train_or_load(other, force=True)
    assert info3["config_hash"] == other.hash
    # it only loads or trains; the weights file is the explicit export, which never overwrites one
    assert not cfg.weights_path.exists()
    assert export_missing_weights(cfg) == cfg.weights_path
    exported, full = load_checkpoint(cfg.weights_path, cfg)["ema"], load_checkpoint(cfg.checkpoint_path, cfg)["ema"]
    assert all(torch.equal(exported[k], v.half() if v.is_floating_point() else v) for k, v in full.items())
    assert export_missing_weights(cfg) is None and export_missing_weights(cfg.replace(lr=0.25)) is None
    # force retrains, but an existing (possibly committed) weights file is never overwritten
    w = cfg.weights_path.read_bytes()
    mtime = os.stat(cfg.checkpoint_path).st_mtime_ns
    train_or_load(cfg, force=True)
    assert cfg.weights_path.read_bytes() == w and os.stat(cfg.checkpoint_path).st_mtime_ns != mtime


def test_corrupt_or_truncated_checkpoint(tmp_path, tiny_data):
    cfg = get_config("smoke", train_steps=1, **TINY)
    p = tmp_path / "e.pt"
    train(cfg, checkpoint=p, data=tiny_data)
    blob = p.read_bytes()
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated.*delete it"):
        load_checkpoint(p, cfg)
    p.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        train(cfg, checkpoint=p, data=tiny_data)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    p = tmp_path / "x.bin"
    atomic_write(p, lambda f: f.write(b"old"))

    def boom(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(p, boom)
    assert p.read_bytes() == b"old" and [q.name for q in tmp_path.iterdir()] == ["x.bin"]
    mask = os.umask(0o022)
    try:
        atomic_write(p, lambda f: f.write(b"new"))
    finally:
        os.umask(mask)
    assert os.stat(p).st_mode & 0o777 == 0o644                  # the umask's mode, not mkstemp's 0600


def test_short_training_restores_better_than_degraded(tmp_path):
    """Learning, not just running: after a short CPU run, direct R(x_T, T) beats the degraded input."""
    from colddiff_lib.metrics import rmse
    from colddiff_lib.sampling import direct
    from colddiff_lib.tasks import make_degradation
    from colddiff_lib.training import model_from_checkpoint
    cfg = get_config("smoke", task="superres", dataset="mnist", image_size=16, train_steps=300, ema_start=1000,
                     progress=False)
    ck = train(cfg, checkpoint=tmp_path / "f.pt")
    R = model_from_checkpoint(ck, cfg)
    te = load_dataset("mnist", "test", image_size=16, root="/nonexistent-colddiff").subset(torch.arange(64))
    x0 = te.all()
    D = make_degradation(cfg, 1)
    xT = D(x0, D.T)
    assert rmse(direct(R, D, xT), x0) < 0.85 * rmse(xT, x0)


def test_warm_start_goes_on_from_ema_only_weights_with_a_fresh_adam(tmp_path, tiny_data):
    """--warm-start: network and EMA start from the exported (fp16) EMA weights, Adam starts afresh
    (so its first update is lr * sign(gradient) on every weight: the closed form of a first Adam step),
    and the run then goes on to train_steps; weights of another config, a goal not beyond their
    step, and an existing checkpoint are refused."""
    cfg = get_config("smoke", train_steps=3, **TINY)
    export_weights(train(cfg, checkpoint=tmp_path / "a.pt", data=tiny_data), tmp_path / "w.pt")
    w = {k: v.float() for k, v in load_checkpoint(tmp_path / "w.pt")["ema"].items()}
    longer = cfg.replace(train_steps=4)
    ck = load_checkpoint(warm_start(longer, tmp_path / "w.pt", tmp_path / "ws.pt"), longer)
    assert ck["step"] == 3 and ck["opt"]["state"] == {} and ck["warm_start"]["step"] == 3
    for key in ("model", "ema"):
        assert all(torch.equal(ck[key][k], w[k]) for k in w), key
    after = train(longer, checkpoint=tmp_path / "ws.pt", data=tiny_data)
    assert after["step"] == 4 and len(after["losses"]) == 4
    steps = torch.cat([(after["model"][k] - w[k]).abs().flatten() for k in w if w[k].is_floating_point()
                       and "weight" in k and w[k].dim() > 1])
    assert ((steps - longer.lr).abs() < 1e-5).float().mean() > 0.95       # |first Adam step| = lr
    ema = {k: w[k].lerp(after["model"][k], 1 - longer.ema_decay) for k in w}   # one EMA update
    assert all(torch.allclose(after["ema"][k], ema[k], atol=1e-7) for k in w if w[k].is_floating_point())

    # a lower learning rate may settle weights trained at the profile's (Adam starts afresh anyway):
    # its first step is the new lr; weights trained at a rate no profile uses are another config
    slow = load_checkpoint(warm_start(longer.replace(lr=2e-4), tmp_path / "w.pt", tmp_path / "s.pt"))
    assert slow["config"]["lr"] == 2e-4 and slow["opt"]["param_groups"][0]["lr"] == 2e-4
    export_weights(train(cfg.replace(lr=7e-4), checkpoint=tmp_path / "o.pt", data=tiny_data), tmp_path / "w7.pt")
    with pytest.raises(CheckpointError, match="trained with another config.*--warm-start-lr"):
        warm_start(longer.replace(lr=5e-4), tmp_path / "w7.pt", tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="trained with another config"):      # named, but not theirs
        warm_start(longer.replace(lr=5e-4), tmp_path / "w7.pt", tmp_path / "x.pt", weights_lr=6e-4)
    named = load_checkpoint(warm_start(longer.replace(lr=5e-4), tmp_path / "w7.pt", tmp_path / "n.pt", weights_lr=7e-4))
    assert named["opt"]["param_groups"][0]["lr"] == 5e-4 and named["warm_start"]["step"] == 3
    with pytest.raises(CheckpointError, match="trained with another config"):   # another network, in bf16 too
        warm_start(longer.replace(unet_dim=16, bf16=True), tmp_path / "w.pt", tmp_path / "x.pt")
    bf16 = load_checkpoint(warm_start(longer.replace(bf16=True), tmp_path / "w.pt", tmp_path / "b.pt"))
    assert bf16["step"] == 3 and bf16["config"]["bf16"] is True     # fp32 weights go on in bf16 autocast
    assert all(torch.equal(bf16["ema"][k], w[k]) for k in w)
    with pytest.raises(ValueError, match="already at step 3; set train_steps above it"):
        warm_start(cfg, tmp_path / "w.pt", tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="ws.pt exists; delete it"):
        warm_start(longer, tmp_path / "w.pt", tmp_path / "ws.pt")
    with pytest.raises(FileNotFoundError, match="no weights file .*models lists"):
        warm_start(longer, tmp_path / "none.pt", tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_linear_lr_decay_follows_its_closed_form_and_resumes_exactly(tmp_path, tiny_data):
    """lr_decay_start/end: a constant-rate run goes on (warm start) with a rate falling linearly to 0.
    A fresh Adam's first step moves each weight by its rate (closed form), so the first step after the
    warm start at step 3 on the decay from step 2 to 7 moves the weights by lr * (7 - 3) / (7 - 2); an
    interrupted decaying run resumes exactly, and the rate at the end is the formula's."""
    cfg = get_config("smoke", train_steps=3, **TINY)
    export_weights(train(cfg, checkpoint=tmp_path / "a.pt", data=tiny_data), tmp_path / "w.pt")
    w = {k: v.float() for k, v in load_checkpoint(tmp_path / "w.pt")["ema"].items()}
    decay = cfg.replace(train_steps=5, lr_decay_start=2, lr_decay_end=7)
    for name in ("full.pt", "part.pt"):
        warm_start(decay, tmp_path / "w.pt", tmp_path / name)
    first = train(decay, checkpoint=tmp_path / "part.pt", data=tiny_data, stop_after=1)
    steps = torch.cat([(first["model"][k] - w[k]).abs().flatten() for k in w if w[k].is_floating_point()
                       and "weight" in k and w[k].dim() > 1])
    assert ((steps - decay.lr * 4 / 5).abs() < 1e-5).float().mean() > 0.95
    torch.manual_seed(4321)
    resumed = train(decay, checkpoint=tmp_path / "part.pt", data=tiny_data)
    full = train(decay, checkpoint=tmp_path / "full.pt", data=tiny_data)
    assert resumed["step"] == full["step"] == 5 and resumed["losses"] == full["losses"]
    assert all(torch.equal(full["model"][k], resumed["model"][k]) for k in full["model"])
    assert full["opt"]["param_groups"][0]["lr"] == pytest.approx(decay.lr * (7 - 4) / (7 - 2))
    # the default (no decay) keeps every committed hash; a decay is another config
    assert cfg.replace(lr_decay_start=0, lr_decay_end=0).hash == cfg.hash != decay.replace(train_steps=3).hash
    with pytest.raises(ValueError, match="lr_decay_end .2. must lie beyond lr_decay_start .5.*lr_decay_end=30000"):
        cfg.replace(lr_decay_start=5, lr_decay_end=2)
    with pytest.raises(ValueError, match="lr_decay_start=5 needs lr_decay_end.*lr_decay_end=10005"):
        cfg.replace(lr_decay_start=5)


def test_warm_start_from_a_full_checkpoint_equals_a_run_that_had_the_schedule_from_the_start(tmp_path, tiny_data):
    """A finished constant-rate run's checkpoint (not its exported weights) goes on with a decay from
    its last step, keeping network, EMA, Adam and both random states: bit for bit the run that was
    given the same decay from step 0 (the rate is a function of the step alone, constant before the
    decay starts). The reference is that uninterrupted run, trained independently."""
    cfg = get_config("smoke", train_steps=3, **TINY)
    train(cfg, checkpoint=tmp_path / "a.pt", data=tiny_data)
    decay = cfg.replace(train_steps=6, lr_decay_start=3, lr_decay_end=7)
    ck = load_checkpoint(warm_start(decay, tmp_path / "a.pt", tmp_path / "ws.pt"), decay)
    assert ck["step"] == 3 and ck["opt"]["state"] != {}
    assert ck["warm_start"]["kept"].startswith("network, EMA, Adam")
    torch.manual_seed(999)                      # another process: the global RNG state comes from the checkpoint
    went_on = train(decay, checkpoint=tmp_path / "ws.pt", data=tiny_data)
    whole = train(decay, checkpoint=tmp_path / "whole.pt", data=tiny_data)
    assert went_on["step"] == whole["step"] == 6
    assert_same_run(whole, went_on, "after a warm start from the full checkpoint")
    # exported EMA-only weights of the same run still start Adam afresh (not exact)
    export_weights(load_checkpoint(tmp_path / "a.pt"), tmp_path / "w.pt")
    ema_only = load_checkpoint(warm_start(decay, tmp_path / "w.pt", tmp_path / "e.pt"))
    assert ema_only["opt"]["state"] == {} and ema_only["warm_start"]["kept"] == "EMA weights; Adam afresh"


def test_an_interrupted_run_goes_on_under_a_schedule_that_agrees_with_the_steps_it_took(tmp_path, tiny_data):
    """A run planned to 8 steps with a decay over 5-9, stopped at step 3, goes on under a shorter
    run whose decay starts at 3 (the rates of the 3 steps taken are the same under both): bit for bit
    the uninterrupted run that had the new schedule from the start. A schedule that would have given
    an earlier step another rate is refused, naming that step, and writes nothing."""
    planned = get_config("smoke", train_steps=8, lr_decay_start=5, lr_decay_end=9, **TINY)
    train(planned, checkpoint=tmp_path / "a.pt", data=tiny_data, stop_after=3)
    assert load_checkpoint(tmp_path / "a.pt")["step"] == 3
    sooner = planned.replace(train_steps=6, lr_decay_start=3, lr_decay_end=7)
    earlier = planned.replace(train_steps=6, lr_decay_start=1, lr_decay_end=7)
    with pytest.raises(ValueError, match=r"took step 3 at a learning rate of 0.001, this schedule gives 0.0008"):
        warm_start(earlier, tmp_path / "a.pt", tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()
    other = planned.replace(train_steps=6, lr_decay_start=3, lr_decay_end=7, batch_size=planned.batch_size + 1)
    with pytest.raises(CheckpointError, match="trained with another config"):     # not only the schedule
        warm_start(other, tmp_path / "a.pt", tmp_path / "x.pt")
    ck = load_checkpoint(warm_start(sooner, tmp_path / "a.pt", tmp_path / "ws.pt"), sooner)
    assert ck["step"] == 3 and ck["warm_start"]["kept"].startswith("network, EMA, Adam")
    torch.manual_seed(999)
    went_on = train(sooner, checkpoint=tmp_path / "ws.pt", data=tiny_data)
    whole = train(sooner, checkpoint=tmp_path / "whole.pt", data=tiny_data)
    assert went_on["step"] == whole["step"] == 6
    assert_same_run(whole, went_on, "after going on from an interrupted run under a new schedule")


def test_a_decayed_run_restarts_with_a_new_schedule_only_when_its_decay_is_named(tmp_path, tiny_data):
    """--warm-start-decay: weights whose rate fell to 0 over steps 1-3 go on with a new decay from the
    restart (steps 3-7). Their hash is another config's, so the warm start is refused until their decay
    is named, and refused again for a decay that is not theirs or has not ended by their step; named,
    the first step moves each weight by the full new rate (a fresh Adam's first step, closed form)."""
    decayed = get_config("smoke", train_steps=3, lr_decay_start=1, lr_decay_end=3, **TINY)
    export_weights(train(decayed, checkpoint=tmp_path / "a.pt", data=tiny_data), tmp_path / "w.pt")
    w = {k: v.float() for k, v in load_checkpoint(tmp_path / "w.pt")["ema"].items()}
    restart = decayed.replace(train_steps=5, lr_decay_start=3, lr_decay_end=7)
    with pytest.raises(CheckpointError, match="trained with another config.*--warm-start-decay START END"):
        warm_start(restart, tmp_path / "w.pt", tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="trained with another config"):      # named, but not theirs
        warm_start(restart, tmp_path / "w.pt", tmp_path / "x.pt", weights_decay=(1, 2))
    with pytest.raises(ValueError, match=r"must have ended by its step 3.*0 <= START < END <= 3"):
        warm_start(restart, tmp_path / "w.pt", tmp_path / "x.pt", weights_decay=(2, 4))
    assert not (tmp_path / "x.pt").exists()
    ck = warm_start(restart, tmp_path / "w.pt", tmp_path / "r.pt", weights_decay=(1, 3))
    first = train(restart, checkpoint=ck, data=tiny_data, stop_after=1)
    steps = torch.cat([(first["model"][k] - w[k]).abs().flatten() for k in w if w[k].is_floating_point()
                       and "weight" in k and w[k].dim() > 1])
    assert ((steps - restart.lr).abs() < 1e-5).float().mean() > 0.95


def test_cli_warm_start_from_the_committed_smoke_weights(tmp_path, capsys):
    """`train --warm-start WEIGHTS --steps N`: one more step from the committed smoke weights, its
    weights exported at step N; asked again, the run's own checkpoint is resumed, not restarted."""
    from pathlib import Path
    from colddiff_lib import __main__ as cli
    weights = Path(__file__).resolve().parent.parent / "results/smoke/weights/deblur-mnist.pt"
    argv = ["train", "--profile", "smoke", "--steps", "201", "--warm-start", str(weights), "--no-progress",
            "--set", f"results_dir={tmp_path}"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "(kept: EMA weights; Adam afresh)" in out and "trained deblur-mnist to step 201" in out
    cfg = get_config("smoke", train_steps=201, results_dir=str(tmp_path))
    assert load_checkpoint(cfg.weights_path, cfg)["step"] == 201
    assert load_checkpoint(cfg.weights_path, cfg)["warm_start"]["step"] == 200       # said in the weights too
    assert load_checkpoint(cfg.checkpoint_path, cfg)["warm_start"]["from"] == str(weights)
    assert cli.main(argv) == 0
    assert "exists: resuming it" in capsys.readouterr().out
