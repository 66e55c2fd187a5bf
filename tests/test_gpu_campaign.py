"""The GPU campaign (benchmarks/gpu_campaign.py) dry-run on the CPU with tiny sizes, so that it
cannot rot while no GPU is lent: every stage runs, writes its files, resumes, and the FID stage
fills in what a GPU machine without the FID weights left pending."""
import argparse
import json

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks import gpu_campaign as gc
from colddiff_lib import metrics


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu")
    args = ["--dry-run", "--out", str(out), "--train-s", "0.1", "--chunk", "3", "--n-eval", "12", "--no-fid", "--fp32"]
    # (--fp32: bf16 autocast is 12x slower than fp32 on CPUs without AVX-512 BF16; same code path)
    assert gc.main(args + ["--stages", "env,throughput,train,cputrain"]) == 0
    first = pd.read_csv(out / "train.csv")
    assert gc.main(args + ["--stages", "train,eval"]) == 0          # a second call resumes training
    assert gc.main(["--dry-run", "--out", str(out), "--stages", "fid"]) == 0
    return out, first


def test_env_and_throughput(campaign):
    out, _ = campaign
    env = json.loads((out / "env.json").read_text())
    assert env["torch"] == torch.__version__ and env["dry_run"] is True
    tp = pd.read_csv(out / "throughput.csv")
    sizes, precisions, compiles = gc.throughput_grid(True)
    assert len(tp) == len(sizes) * len(precisions) * len(compiles)
    assert (tp.images_per_s > 0).all() and (tp.error.isna()).all()
    assert np.allclose(tp.images_per_s, tp.batch / tp.step_s, rtol=0.01, atol=0.06)   # rounding


def test_training_resumes_across_calls(campaign):
    out, first = campaign
    tr = pd.read_csv(out / "train.csv")
    assert list(tr.task) == ["deblur", "inpaint", "deblur", "inpaint"]
    for task in ("deblur", "inpaint"):
        a, b = tr[tr.task == task].iloc[0], tr[tr.task == task].iloc[1]
        assert a.config_hash == b.config_hash
        assert a.steps_total == a.steps_this_call >= 3                 # at least one chunk
        assert b.steps_total == a.steps_total + b.steps_this_call    # went on from the checkpoint


def test_table_has_paper_column_metrics_and_later_fid(campaign):
    out, _ = campaign
    df = pd.read_csv(out / "table_mnist.csv")
    assert set(zip(df.task, df.column)) == {(t, c) for t in ("deblur", "inpaint") for c in ("Degraded", "Sampled", "Direct")}
    ref = df.set_index(["task", "column"])["paper FID"]
    assert ref[("deblur", "Sampled")] == 4.69 and ref[("inpaint", "Sampled")] == 1.61
    assert ref[("deblur", "Degraded")] == 438.59                      # the typeset Table 1
    assert np.isnan(ref[("inpaint", "Degraded")])                    # unknown stays blank, never zero
    assert (df.N == 12).all() and (df["train steps"] > 0).all()
    assert df["FID from"].str.startswith("stage fid").all() and (df.FID > 0).all()
    # the saved outputs are the ones measured: SSIM/RMSE recomputed from the npz agree (uint8 rounding)
    for task in ("deblur", "inpaint"):
        z = np.load(out / f"samples-{task}.npz")
        x0 = torch.from_numpy(z["original"]).float() / 127.5 - 1
        for col in ("Degraded", "Sampled", "Direct"):
            x = torch.from_numpy(z[col]).float() / 127.5 - 1
            row = df[(df.task == task) & (df.column == col)].iloc[0]
            assert abs(metrics.rmse(x, x0) - row.RMSE) < 5e-3
            # FID of the stage equals the library's FID of the same images, computed here
            fid = metrics.fid_from_features(metrics.extract_features(torch.from_numpy(z[col])),
                                            metrics.extract_features(torch.from_numpy(z["original"])))
            assert abs(fid - row.FID) < 1e-2 * max(1.0, fid)


def test_bad_stage_is_one_clear_error(capsys):
    with pytest.raises(SystemExit):
        gc.main(["--dry-run", "--stages", "warp"])
    assert ("unknown stage(s) warp; valid stages: env, throughput, cputrain, train, cpu, eval, fid, gensample, "
            "genfid" in capsys.readouterr().err)


def test_cputrain_trains_the_generation_models_with_their_hashes(campaign):
    out, _ = campaign
    tr = pd.read_csv(out / "cpu_train.csv")
    assert list(tr.task) == list(gc.CPU_GENERATION) and (tr["train steps"] == 3).all()
    a = argparse.Namespace(dry_run=True)
    for r in tr.itertuples():
        cfg = gc.cpu_config(r.task, a, out)
        assert cfg.hash == r.config_hash and cfg.weights_path.name == r.weights
        assert gc.load_checkpoint(cfg.weights_path, cfg)["step"] == 3       # the exported EMA weights load


def test_gensample_then_genfid_give_table5_rows_of_the_saved_samples(campaign):
    """Table 5 at N = --n-eval: the saved samples are the library's generate() output (batched by 2,000
    there, 128 by default: the same images), a second call samples nothing again, and each FID is the
    library's FID of the saved images against the MNIST test set, computed here."""
    out, _ = campaign
    args = ["--dry-run", "--out", str(out), "--n-eval", "5"]
    assert gc.main(args + ["--stages", "gensample"]) == 0
    gen = pd.read_csv(out / "gen_samples.csv")
    want = [(t, v) for t in gc.GEN_ORDER for v, _ in gc.get_task(t).variants]
    assert list(zip(gen.task, gen.variant)) == want and (gen.N == 5).all()
    a = argparse.Namespace(dry_run=True)
    x, _, _ = gc.experiments.generate(gc.cpu_config("hot", a, out), 5, "fixed noise", seed=0, progress=False)
    saved = np.load(out / "samples-gen-hot-fixed_noise.npz")["sample"]
    assert np.abs(gc._u8(x).astype(int) - saved).max() <= 1                # uint8 rounding at most
    assert gc.main(args + ["--stages", "genfid"]) == 0
    t5 = pd.read_csv(out / "cpu_table5.csv")
    assert list(t5.column) == list(gen.label) and (t5.table == 5).all() and t5["paper FID"].isna().all()
    test = gc.load_data(gc.cpu_config("hot", a, out), "test")
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:5].sort().values
    ref = metrics.extract_features(test.batch(idx, augment=False))      # the seeded test subset, here
    for r in t5.itertuples():
        z = torch.from_numpy(np.load(out / gen.set_index("label").loc[r.column, "file"])["sample"])
        assert abs(metrics.fid_from_features(metrics.extract_features(z), ref) - r.FID) < 0.01
    fig = np.load(out / "figure21-blurgen.npz")
    assert sorted(fig.files) == ["broken_symmetry", "perfect_symmetry"] and fig["broken_symmetry"].shape == (5, 1, 32, 32)
    before = gen["sampling s"].tolist()
    assert gc.main(args + ["--stages", "gensample"]) == 0                  # nothing sampled again
    assert pd.read_csv(out / "gen_samples.csv")["sampling s"].tolist() == before


def test_fid_weight_parts_put_together_bit_for_bit(tmp_path, monkeypatch):
    """The FID weights travel in two parts (bytes 2-3 and 0-1 of each float); put together they are
    the same tensors, and a damaged part is refused."""
    g = torch.Generator().manual_seed(0)
    sd = {"a.conv.weight": torch.randn(4, 3, 3, 3, generator=g), "a.bn.num_batches_tracked": torch.tensor(0),
          "fc.bias": torch.randn(7, generator=g) * 1e-30, "z": torch.tensor([float("inf"), -0.0, 1e38])}
    torch.save(sd, tmp_path / "w.pth")
    gc.write_fid_parts(tmp_path / "parts", tmp_path / "w.pth")
    target = tmp_path / "cache" / "fid.pth"
    monkeypatch.setattr(metrics, "converted_fid_weights_file", lambda: target)
    with pytest.raises(FileNotFoundError, match="planes01.xz"):
        gc.assemble_fid_parts([tmp_path / "parts" / "fid1"])          # the second part has not arrived
    gc.assemble_fid_parts([tmp_path / "parts" / "fid1", tmp_path / "parts" / "fid2"])
    back = torch.load(target)
    assert list(back) == list(sd)
    for k in sd:
        assert back[k].dtype == sd[k].dtype and torch.equal(back[k], sd[k])
    target.unlink()
    f = tmp_path / "parts" / "fid2" / "planes01.xz"
    import lzma
    raw = bytearray(lzma.decompress(f.read_bytes()))
    raw[5] ^= 1
    f.write_bytes(lzma.compress(bytes(raw)))
    with pytest.raises(SystemExit, match="SHA-1 differs"):
        gc.assemble_fid_parts([tmp_path / "parts" / "fid1", tmp_path / "parts" / "fid2"])
    assert not target.exists()
