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
