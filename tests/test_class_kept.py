"""benchmarks.class_kept: the share of restorations whose nearest training digit has the test digit's
label, checked against a literal 1-NN (torch.cdist over all 60,000 training digits)."""
import pytest
import torch

from benchmarks import class_kept as ck
from colddiff_lib import pretrained
from colddiff_lib.data import fixed_subset
from colddiff_lib import experiments
from colddiff_lib.tasks import load_data, make_degradation


def test_direct_class_kept_matches_a_literal_nearest_neighbour(tmp_path):
    rows = ck.measure("deblur-mnist-smoke", n=12, policy="fp32")
    model, info = pretrained.load("deblur-mnist-smoke")
    cfg = info["config"]
    x0, test = experiments.test_images(cfg, 12)
    labels = fixed_subset(test, 12, seed=cfg.seed).labels
    D = make_degradation(cfg, x0.shape[1])
    xT, _ = experiments.fully_degrade(cfg, D, x0)
    with torch.no_grad():
        x = model(xT, torch.full((12,), D.T, dtype=torch.long)).float()   # Direct: R(x_T, T)
    train = load_data(cfg, "train")
    ref = train.batch(torch.arange(len(train)), augment=False)
    nn = torch.cdist(x.flatten(1).double(), ref.flatten(1).double()).argmin(1)
    want = float((train.labels[nn] == labels).double().mean())
    got = {r["column"]: r for r in rows}
    assert got["Direct"]["class kept"] == pytest.approx(want, abs=1e-4) and got["Direct"]["N"] == 12
    df = ck.merge(rows, tmp_path / "ck")
    assert list(df.column) == ["Direct", "Sampled"] and (tmp_path / "ck.md").exists()


def test_an_unknown_or_unsuitable_model_is_one_line(capsys):
    with pytest.raises(SystemExit):
        ck.main(["--model", "no-such-model", "--n", "4"])
    assert "python -m colddiff_lib models" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="needs an MNIST restorer"):
        ck.measure("hot-mnist", n=4)
