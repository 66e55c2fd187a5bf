"""The notebooks are their own single source (edited in JupyterLab, executed by papermill): each
has one `parameters` cell, the colddiff kernel, short library calls, and a set-up cell that
imports only what the notebook uses."""
import ast
import json
import re
from pathlib import Path

import pytest

NB_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(c):
    return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


def test_there_is_one_source_per_notebook():
    assert len(NOTEBOOKS) == 10
    assert not list(NB_DIR.glob("*.py")), "notebooks are edited as notebooks: no generator script beside them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_kernel_and_imports(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "colddiff"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and "PROFILE" in source(tagged[0])
    setup = next(c for c in code if "from colddiff_lib import" in source(c))
    names = [n.strip() for n in re.search(r"from colddiff_lib import ([\w, ]+)", source(setup)).group(1).split(",")]
    rest = "\n".join(source(c) for c in code if c is not setup)
    unused = [n for n in names if n not in ("env", "config") and not re.search(rf"\b{n}\.", rest)]
    assert not unused, f"{path.name}: the set-up cell imports {unused} but no cell uses them"
    for c in code:                                   # short cells of library calls, valid Python
        body = "\n".join(l for l in source(c).splitlines() if not l.startswith("%"))
        ast.parse(body)
        assert len(source(c).splitlines()) <= 25, f"{path.name}: a cell of {len(source(c).splitlines())} lines"


TABLE_NOTEBOOKS = ("03_deblurring", "04_inpainting", "05_super_resolution", "06_snowification", "07_generation",
                   "08_decolorization")


@pytest.mark.parametrize("stem", TABLE_NOTEBOOKS)
def test_table_notebooks_open_on_the_shipped_real_data_models(stem):
    """Issue #32: a table's notebook opens on the cpu profile's shipped models (section 1: their figure,
    the committed N = 10,000 rows and the claims; its first figure is theirs); the run with the notebook's own profile, the smoke
    profile's plumbing when committed, comes second."""
    cs = cells(NB_DIR / f"{stem}.ipynb")
    setup = next(i for i, c in enumerate(cs) if "RUN = config.get_config" in source(c))
    first = next(source(c) for c in cs[setup + 1:] if c["cell_type"] == "code" and "plotting." in source(c))
    assert re.search(r"pretrained\.cpu_models|experiments\.pretrained_samples", first), first[:200]
    heads = [line for c in cs if c["cell_type"] == "markdown" for line in source(c).splitlines() if line.startswith("## ")]
    assert heads[0].startswith("## 1."), heads
    assert heads[1].startswith("## 2. Step by step"), heads
    committed = next(i for i, c in enumerate(cs) if "committed_claims(" in source(c))
    own = next(i for i, c in enumerate(cs) if re.search(r"training\.train_or_load\(|experiments\.generation_rows\(", source(c)))
    assert committed < own, "the committed rows come before this run's own"
