import math
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from colddiff_lib import experiments as E
from colddiff_lib import reporting as R
from colddiff_lib.config import get_config


@pytest.fixture
def tiny_cifar(tmp_path):
    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1", 24), ("test_batch", 8)):
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": [0] * n}, f)
    return tmp_path


def test_paper_profile_path_on_tiny_real_files(tiny_cifar):
    """The paper profile's code path (real CIFAR-10 format, published schedule) end to end, offline."""
    cfg = get_config("paper", task="deblur", dataset="cifar10", data_root=str(tiny_cifar / "data"),
                     results_dir=str(tiny_cifar / "results"), train_steps=2, batch_size=4, grad_accum=2,
                     unet_dim=8, dim_mults=(1, 2), attn_heads=1, attn_dim_head=8, progress=False)
    assert cfg.image_size == 32 and cfg.lr == 2e-5
    rows, imgs = E.restoration_rows(cfg, 1, n_eval=6)
    df = pd.DataFrame(rows)
    assert list(df.column) == ["Degraded", "Sampled", "Direct"] and (df.N == 6).all()
    assert df["T"].iloc[0] == 50 and (df["train steps"] == 2).all()
    assert df.set_index("column").loc["Sampled", "paper FID"] == pytest.approx(80.08)
    assert df.set_index("column").loc["Degraded", "paper FID"] == pytest.approx(298.60)   # the typeset Table 1
    assert df.set_index("column").loc["Direct", "paper SSIM"] == pytest.approx(0.775)
    assert df.set_index("column").loc["Sampled", "paper RMSE"] == pytest.approx(0.075)
    assert all(np.isfinite(df.FID)) and imgs["Original"].shape == (6, 3, 32, 32)
    assert (df.precision == "fp32").all()                       # the API's default, recorded per row
    out = R.write_table(rows, 1, cfg, "Deblurring")
    raw = pd.read_csv(tiny_cifar / "results" / "paper" / "tables" / "table1.csv", dtype=str, keep_default_na=False)
    paper = raw.set_index("column")["paper FID"]
    assert float(paper["Degraded"]) == pytest.approx(298.60) and float(paper["Sampled"]) == pytest.approx(80.08)
    md = (tiny_cifar / "results" / "paper" / "tables" / "table1.md").read_text()
    assert md.startswith("# Table 1: Deblurring (profile `paper`)") and "80.08" in md
    assert len(out) == 3


def test_claims_checker():
    df = pd.DataFrame([
        {"dataset": "a", "column": "Degraded", "FID": 50.0, "SSIM": 0.5, "RMSE": 0.3},
        {"dataset": "a", "column": "Sampled", "FID": 40.0, "SSIM": 0.6, "RMSE": 0.35},
        {"dataset": "a", "column": "Direct", "FID": 60.0, "SSIM": 0.7, "RMSE": 0.2},
    ])
    c = R.claims(df).set_index("claim").holds
    assert c["Sampled beats Degraded on FID"] and not c["Sampled beats Degraded on RMSE"]
    assert not c["Direct beats Degraded on FID"] and c["Direct beats Degraded on SSIM"]
    assert c["Sampled beats Direct on FID"]                      # 40 < 60: the paper's Sampled-vs-Direct claim
    flipped = df.assign(FID=[50.0, 70.0, 60.0])
    assert not R.claims(flipped).set_index("claim").holds["Sampled beats Direct on FID"]


def test_claims_follow_the_papers_own_numbers_row_by_row():
    """MNIST super-resolution: the paper has Direct ahead of Sampled on FID (4.05 vs 4.33), SSIM
    (0.823 vs 0.820) and RMSE (0.114 vs 0.115), so those are the claims checked, not Sampled's."""
    rows = [{"table": 3, "dataset": "mnist", "column": c, "FID": f, "SSIM": s, "RMSE": r}
            for c, f, s, r in (("Degraded", 300.0, 0.2, 0.3), ("Sampled", 20.0, 0.72, 0.15), ("Direct", 30.0, 0.71, 0.14))]
    c = R.claims(pd.DataFrame(rows)).set_index("claim")
    assert "Sampled beats Direct on FID" not in c.index
    assert not c.holds["Direct beats Sampled on FID"] and "4.05 vs 4.33" in c.paper["Direct beats Sampled on FID"]
    assert not c.holds["Direct beats Sampled on SSIM"] and c.holds["Direct beats Sampled on RMSE"]
    # Table 1 MNIST: Sampled ahead on FID in the paper (4.69 vs 5.10), Direct ahead on SSIM and RMSE
    t1 = R.claims(pd.DataFrame([{**r, "table": 1} for r in rows])).set_index("claim")
    assert {"Sampled beats Direct on FID", "Direct beats Sampled on SSIM", "Direct beats Sampled on RMSE"} <= set(t1.index)
    # no paper value for the row (Fashion-MNIST): the paper's general claim for Algorithm 2
    fm = R.claims(pd.DataFrame([{**r, "dataset": "fashion-mnist"} for r in rows])).set_index("claim")
    assert list(fm.index[-1:]) == ["Sampled beats Direct on FID"] and "no paper value" in fm.paper.iloc[-1]


def test_paper_reference_blanks_are_unknown():
    ref = R.paper_reference()
    assert ref.value.isna().sum() > 0 and (ref.value.dropna() > 0).all()
    assert R.paper_value(5, "celeba-standin", "blur: broken symmetry", "FID") == pytest.approx(49.45)
    assert math.isnan(R.paper_value(2, "mnist", "Degraded", "FID"))            # not recovered: unknown, not zero
    # Tables 1 and 3 are complete (the typeset tables); a status with a comma is one field
    for t in (1, 3):
        for col in ("Degraded", "Sampled", "Direct"):
            for m in ("FID", "SSIM", "RMSE"):
                assert R.paper_value(t, "mnist", col, m) > 0, (t, col, m)
    assert R.paper_value(3, "mnist", "Direct", "FID") == pytest.approx(4.05)     # Direct ahead of Sampled's 4.33
    assert set(ref.status) == {"verified", "published, one source", "not recovered"}


def test_recorded_claims_must_keep_holding(tmp_path, capsys):
    df = pd.DataFrame([
        {"dataset": "a", "column": "Degraded", "FID": 50.0, "SSIM": 0.5, "RMSE": 0.3},
        {"dataset": "a", "column": "Sampled", "FID": 40.0, "SSIM": 0.6, "RMSE": 0.35},
        {"dataset": "a", "column": "Direct", "FID": 45.0, "SSIM": 0.7, "RMSE": 0.2},
    ])
    path = tmp_path / "claims.json"
    R.record_claims(R.claims(df), "table1", path)
    R.assert_claims_kept(R.claims(df), "table1", path)
    worse = df.copy()
    worse.loc[1, "FID"] = 60.0
    with pytest.raises(AssertionError, match="Sampled beats Degraded on FID"):
        R.assert_claims_kept(R.claims(worse), "table1", path)
    # a run at another N than the profile's (N_EVAL set) lists the lost claims instead of failing
    R.assert_claims_kept(R.claims(worse), "table1", path, n_override=48)
    out = capsys.readouterr().out
    assert "2 of 6 recorded claim(s) do not hold at this N: [('a', 'Sampled beats Degraded on FID'), ('a', 'Sampled beats Direct on FID')]" in out


def test_committed_claims_of_another_profile(tmp_path):
    """The smoke notebooks show (and assert) the cpu profile's committed claims: read from
    <results>/<profile>/tables/tableN.csv, Table 5 with the generation claims."""
    assert R.committed_claims(1, "cpu", results_dir=tmp_path) is None
    tables = tmp_path / "cpu" / "tables"
    tables.mkdir(parents=True)
    pd.DataFrame([{"dataset": "mnist", "column": c, "FID": f, "SSIM": s, "RMSE": r}
                  for c, f, s, r in (("Degraded", 400.0, 0.1, 0.3), ("Sampled", 57.0, 0.4, 0.2),
                                     ("Direct", 55.0, 0.6, 0.1))]).to_csv(tables / "table1.csv", index=False)
    pd.DataFrame([{"dataset": "mnist", "column": c, "FID": f}
                  for c, f in (("blur: perfect symmetry", 125.5), ("blur: broken symmetry", 127.9),
                               ("hot: fixed noise", 30.0), ("hot: estimated noise", 20.0))]).to_csv(tables / "table5.csv", index=False)
    df, c = R.committed_claims(1, "cpu", results_dir=tmp_path)
    held = c.set_index("claim").holds
    assert len(df) == 3 and held.sum() == 6 and not held["Sampled beats Direct on FID"]    # 57 > 55
    _, c5 = R.committed_claims(5, "cpu", results_dir=tmp_path)
    assert dict(zip(c5.claim, c5.holds)) == {"broken symmetry beats perfect symmetry on FID": False,
                                             "estimated noise beats fixed noise on FID": True}


def _rows(ds, fids, paper=float("nan")):
    return [{"table": 1, "dataset": ds, "column": c, "FID": f, "SSIM": 0.5, "RMSE": 0.2, "paper FID": paper, "N": 10}
            for c, f in zip(("Degraded", "Sampled", "Direct"), fids)]


def test_merge_table_replaces_only_its_own_rows(tmp_path):
    cfg = get_config("cpu", dataset="mnist", results_dir=str(tmp_path))
    R.write_table(_rows("mnist", (300.0, 50.0, 60.0), 4.69) + _rows("cifar10-standin", (200.0, 90.0, 80.0)), 1, cfg, "Deblurring")
    df = R.merge_table(_rows("mnist", (310.0, 40.0, 45.0), 4.69), 1, cfg, "Deblurring")
    assert len(df) == 6 and df.groupby(["dataset", "column"]).size().max() == 1          # replaced, not appended
    fid = df.set_index(["dataset", "column"]).FID
    assert fid["mnist", "Sampled"] == 40.0 and fid["cifar10-standin", "Direct"] == 80.0   # new rows; others kept
    assert list(df.dataset) == ["mnist"] * 3 + ["cifar10-standin"] * 3                    # in their old place
    df = R.merge_table(_rows("fashion-mnist", (250.0, 30.0, 35.0)), 1, cfg, "Deblurring")
    raw = pd.read_csv(tmp_path / "cpu" / "tables" / "table1.csv", dtype=str, keep_default_na=False)
    assert len(raw) == 9 and set(raw[raw.dataset != "mnist"]["paper FID"]) == {""}        # unknown stays blank
    assert raw[raw.dataset == "mnist"]["paper FID"].astype(float).tolist() == [4.69] * 3


def test_table_command_merges_one_dataset_and_says_its_claims(tmp_path, monkeypatch, capsys):
    from colddiff_lib import __main__ as cli
    seen = {}

    def fake_rows(cfg, table, n_eval=None, **kw):
        seen.update(task=cfg.task, dataset=cfg.dataset, table=table, n=n_eval, root=cfg.results_dir,
                    steps=cfg.train_steps, precision=kw["precision"])
        return _rows(cfg.dataset, (300.0, 20.0, 25.0)), {}
    monkeypatch.setattr(E, "restoration_rows", fake_rows)
    cfg = get_config("cpu", results_dir=str(tmp_path))
    R.write_table(_rows("mnist", (300.0, 50.0, 60.0), 4.69), 3, cfg, "Super-resolution")
    rc = cli.main(["table", "--profile", "cpu", "--task", "superres", "--dataset", "fashion-mnist", "--n", "7",
                   "--set", "train_steps=6000", "--set", f"results_dir={tmp_path}", "--no-progress",
                   "--precision", "fp32"])
    out = capsys.readouterr().out
    # a repeated --set adds to the earlier ones (argparse's plain store kept only the last)
    assert rc == 0 and seen == dict(task="superres", dataset="fashion-mnist", table=3, n=7, root=str(tmp_path),
                                    steps=6000, precision="fp32")
    assert "precision: fp32 as asked" in out
    assert "fashion-mnist: Sampled beats Direct on FID: holds" in out and "mnist: Sampled" not in out.replace("fashion-mnist", "")
    df = pd.read_csv(tmp_path / "cpu" / "tables" / "table3.csv")
    assert sorted(df.dataset.unique()) == ["fashion-mnist", "mnist"] and len(df) == 6
    assert cli.main(["table", "--task", "ddpm", "--set", f"results_dir={tmp_path}"]) == 2
    assert "has no paper table" in capsys.readouterr().err


def test_train_command_keeps_every_repeated_set(tmp_path, capsys):
    """The first of two --set options is applied too: here its bad value is the one clear error."""
    from colddiff_lib import __main__ as cli
    rc = cli.main(["train", "--profile", "smoke", "--set", "ema_decay=1.5", "--set", f"results_dir={tmp_path}"])
    err = capsys.readouterr().err
    assert rc == 2 and "ema_decay" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "smoke" / "checkpoints").exists()


def test_nearest_training_image_is_the_literal_lookup_in_degraded_space():
    """The network-free lookup returns, for each x_T, the training image whose D(x0', T) is nearest:
    checked against a literal loop over the training images (torch.dist per pair)."""
    from colddiff_lib.experiments import class_kept, nearest_training_image
    from colddiff_lib.tasks import build_degradation
    g = torch.Generator().manual_seed(3)
    D = build_degradation("deblur", "mnist", channels=1, image_size=32)
    train = torch.rand(40, 1, 32, 32, generator=g) * 2 - 1
    test = torch.cat([train[[7, 21]] + 0.01 * torch.randn(2, 1, 32, 32, generator=g),
                      torch.rand(3, 1, 32, 32, generator=g) * 2 - 1])
    xT = D(test, D.T)
    got, idx = nearest_training_image(D, xT, train, chunk=7)
    train_xT = D(train, D.T).double()
    literal = torch.tensor([min(range(len(train)), key=lambda j: float(torch.dist(x.double(), train_xT[j])))
                            for x in xT])
    assert torch.equal(idx, literal) and torch.equal(got, train[literal])
    assert idx[:2].tolist() == [7, 21]                  # a slightly changed training image finds itself
    # class_kept: the share whose 1-NN label (among the training images) is the test label
    labels = torch.arange(40) % 4
    share = class_kept({"lookup": got}, labels[literal], train, labels)
    assert share == {"lookup": 1.0}
    wrong = class_kept({"lookup": got}, (labels[literal] + 1) % 4, train, labels)
    assert wrong == {"lookup": 0.0}
    masks = build_degradation("inpaint", "mnist", channels=1, image_size=32)
    with pytest.raises(TypeError, match="deterministic degradation"):
        nearest_training_image(masks, xT, train)


def test_lookup_claims_follow_each_inequality():
    """Each statement of the lookup ablation (notebook 03) is its inequality and nothing else: a table
    where every one holds, then each metric moved across its threshold flips exactly its claims."""
    base = pd.DataFrame({"column": ["Degraded", "Sampled", "Direct", R.LOOKUP],
                         "FID": [400.0, 50.0, 55.0, 4.0], "SSIM": [0.01, 0.42, 0.60, 0.35],
                         "RMSE": [0.30, 0.24, 0.18, 0.28], "class kept": [0.13, 0.60, 0.74, 0.57]})
    held = lambda df: dict(zip(R.lookup_claims(df).claim, R.lookup_claims(df).holds))
    assert all(held(base).values()) and len(held(base)) == 5
    def moved(col, metric, value):
        df = base.copy()
        df.loc[df.column == col, metric] = value
        return {c for c, h in held(df).items() if not h}
    assert moved(R.LOOKUP, "FID", 52.0) == {"the nearest training image beats Sampled on FID"}   # 50 < 52 < 55
    assert moved(R.LOOKUP, "FID", 60.0) == {"the nearest training image beats Sampled on FID",
                                            "the nearest training image beats Direct on FID"}
    assert moved("Sampled", "RMSE", 0.29) == {"Sampled beats the nearest training image on SSIM, RMSE and class kept"}
    assert moved("Sampled", "class kept", 0.80) == {"Direct keeps the class more often than Sampled"}
    assert moved(R.LOOKUP, "SSIM", 0.5) == {"Sampled beats the nearest training image on SSIM, RMSE and class kept"}


def test_save_samples_keeps_the_first_k_as_uint8_and_merges_variants(tmp_path):
    """Variants sampled by separate runs end in one file; each array is the literal rounding of
    [-1, 1] to 0..255 of the first k samples."""
    cfg = get_config("cpu", task="hot", dataset="mnist", results_dir=str(tmp_path))
    g = torch.Generator().manual_seed(0)
    a, b = (torch.rand(6, 1, 4, 4, generator=g) * 2 - 1 for _ in range(2))
    p = E.save_samples(cfg, {"hot: fixed noise": (a, None)}, 4)
    assert p == tmp_path / "cpu" / "samples" / "hot-mnist.npz"
    E.save_samples(cfg, {"hot: estimated noise": (b, None)}, 4)
    with np.load(p) as z:
        assert sorted(z.files) == ["estimated_noise", "fixed_noise"]
        for key, x in (("fixed_noise", a), ("estimated_noise", b)):
            want = np.floor((x[:4].numpy() + np.float32(1)) * np.float32(127.5) + np.float32(0.5)).astype(np.uint8)
            assert z[key].dtype == np.uint8 and z[key].shape == (4, 1, 4, 4) and (z[key] == want).all()
