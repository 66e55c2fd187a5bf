"""The cpu profile's Table 1-3 figures (benchmarks/table_figures.py): their titles say in words what the
committed table's numbers say, and a note of what someone saw stays on a figure only while its model is drawn."""
import json

import pandas as pd

from benchmarks import table_figures as TF
from colddiff_lib import pretrained


def _table(sampled, direct, degraded, paper_sampled, paper_direct, dataset="mnist"):
    """A literal table: (FID, SSIM, RMSE) per column, the paper's beside Sampled and Direct."""
    rows = []
    for col, (fid, ssim, rmse), paper in (("Degraded", degraded, (None,) * 3), ("Sampled", sampled, paper_sampled),
                                          ("Direct", direct, paper_direct)):
        rows.append({"table": 3, "dataset": dataset, "column": col, "FID": fid, "SSIM": ssim, "RMSE": rmse,
                     "paper FID": paper[0], "paper SSIM": paper[1], "paper RMSE": paper[2], "N": 10000,
                     "train steps": 96000})
    return pd.DataFrame(rows)


# Table 3's MNIST rows at 96,000 steps and the paper's (Bansal et al. 2022, Table 3)
T3 = _table((11.06, 0.815, 0.121), (26.96, 0.849, 0.111), (366.0, 0.218, 0.259),
            (4.33, 0.820, 0.115), (4.05, 0.823, 0.114))


def test_claims_line_says_what_holds_and_what_does_not_as_the_numbers_give():
    assert TF.claims_line(T3) == ("Holds: both beat Degraded on every metric; Direct ahead on SSIM and RMSE, as in "
                                  "the paper. Does not hold: the paper's Direct ahead on FID (here Algorithm 2 is)")
    worse = T3.copy()
    worse.loc[worse.column == "Sampled", "SSIM"] = 0.1                # below Degraded's 0.218
    line = TF.claims_line(worse)
    assert "both beat Degraded" not in line and "Algorithm 2 beats Degraded on SSIM" in line.split("Does not hold")[1]


def test_fid_line_gives_the_ratio_to_the_paper_or_says_both_are_at_or_below_it():
    assert TF.fid_line(T3) == "Our FIDs are 2.6x and 6.7x the paper's"          # 11.06 / 4.33, 26.96 / 4.05
    t2 = _table((1.49, 0.94, 0.073), (1.63, 0.95, 0.065), (100.8, 0.50, 0.26), (1.61, None, None), (2.24, None, None))
    assert TF.fid_line(t2) == "Both FIDs at or below the paper's (1.49 and 1.63 against 1.61 and 2.24)"
    assert TF.fid_line(_table((1, 1, 1), (1, 1, 1), (1, 1, 1), (None,) * 3, (None,) * 3)) == ""   # paper unknown


def test_a_looked_at_note_stays_on_the_title_only_while_its_model_is_drawn(tmp_path, monkeypatch):
    notes = tmp_path / "looked_at.json"
    notes.write_text(json.dumps({"table3_superres_mnist_examples": {"model": "superres-mnist-96000", "seen": "SEEN"}}))
    monkeypatch.setattr(TF, "LOOKED_AT", notes)
    fig = "table3_superres_mnist_examples"
    assert TF.examples_title(3, "superres-mnist-96000", "about", T3, fig).endswith("the paper: Sampled 4.33, Direct 4.05)\nSEEN")
    assert "SEEN" not in TF.examples_title(3, "superres-mnist-120000", "about", T3, fig)


def test_every_committed_note_is_for_the_model_its_figure_draws_now():
    """A new model drops the old note from the title; this asks for a new look instead of none."""
    for fig, note in TF.looked_at().items():
        number = int(fig[len("table")])
        assert note["model"] == pretrained.cpu_models(TF.TASKS[number])[0], (
            f"{fig}: the note is for {note['model']}; look at the redrawn figure and record what it shows: "
            f"python -m benchmarks.table_figures --tables {number} --seen '...'")
