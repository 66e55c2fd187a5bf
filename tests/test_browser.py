"""JupyterLab in a real browser, as our users meet the project.

Starts ``jupyter lab`` on a free localhost port (token-protected) over a temporary copy of two
notebooks, opens each in Debian's Chromium through Playwright, runs all cells with the
``colddiff`` kernel from the Run menu, and checks that every code cell ran (JupyterLab stops
"Run All" at the first error), that no output holds a traceback, and that a figure is shown.  A
screenshot of each goes to ``results/browser/``.  The server is stopped by the test itself.

Needs ``/usr/bin/chromium`` (Debian package ``chromium``) and the ``playwright`` package (``make
browser-setup`` installs both; ``make test`` runs it first).  Outside CI the test is skipped when
they are missing; in CI (CI=true) it fails instead.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("COLDDIFF_CHROMIUM", "/usr/bin/chromium")
NOTEBOOKS = ("00_overview.ipynb", "03_deblurring.ipynb")
FIGURES = {"00_overview.ipynb": 0, "03_deblurring.ipynb": 2}      # figures each must show at least
# Parameters set in the copy's parameters cell, as a user would before "Run All": notebook 03 on
# MNIST only (the newcomer's digits). This test is about JupyterLab (kernel, Run All, figures); the
# notebook's numbers on every dataset are nbval's job on the committed notebook.
PARAMETERS = {"03_deblurring.ipynb": {"DATASETS": "'mnist'"}}
SHOTS = REPO / "results" / "browser"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"        # the notebook on show


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install chromium, or make browser-setup)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright not installed (make browser-setup)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None and os.environ.get("CI", "").lower() != "true",
                                reason=str(_missing()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _set_parameters(book, values: dict) -> None:
    """Edit the assignments of the cell tagged ``parameters`` (every name must be there)."""
    if not values:
        return
    cell = next(c for c in book.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    lines = cell.source.splitlines()
    for name, value in values.items():
        hits = [i for i, line in enumerate(lines) if line.startswith(f"{name} =")]
        assert len(hits) == 1, f"the parameters cell has no single assignment of {name}: {cell.source!r}"
        lines[hits[0]] = f"{name} = {value}"
    cell.source = "\n".join(lines)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    assert _missing() is None, _missing()
    root = tmp_path_factory.mktemp("lab")
    import nbformat
    for nb in NOTEBOOKS:   # a copy without outputs: what the test sees is this run's; autosave never touches ours
        book = nbformat.read(REPO / "notebooks" / nb, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        _set_parameters(book, PARAMETERS.get(nb, {}))
        nbformat.write(book, root / nb)
    port, token = _free_port(), "colddiff-browser-test"
    # render every cell (JupyterLab 4 otherwise leaves off-screen cells out of the page)
    settings = root / ".settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    env = dict(os.environ, JUPYTERLAB_WORKSPACES_DIR=str(root / ".ws"), JUPYTER_RUNTIME_DIR=str(root / ".rt"),
               JUPYTERLAB_SETTINGS_DIR=str(root / ".settings"))
    jupyter = Path(sys.executable).with_name("jupyter")
    proc = subprocess.Popen([str(jupyter), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                             f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
                             "--ServerApp.port_retries=0", "--LabApp.news_url=", "--allow-root"],
                            stdout=subprocess.DEVNULL, stderr=open(root / "server.log", "w"), env=env,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited: {(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
    else:
        pytest.fail("jupyter lab did not listen within 120 s")
    try:
        yield url, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        assert proc.poll() is not None          # the server is gone


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(lab, browser, name):
    url, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # a workspace of its own per notebook (?reset): only this notebook is open
    page.goto(f"{url}/lab/workspaces/{Path(name).stem}/tree/{name}?reset&token={token}")
    page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=120_000)
    # the notebook's own kernel (colddiff) must be picked and started
    sel = f"{PANEL} .jp-KernelName, {PANEL} [data-jp-item-name='kernelName']"
    try:
        page.wait_for_function("(sel) => { const e = document.querySelector(sel); return e && /colddiff/.test(e.textContent); }",
                               arg=sel, timeout=120_000)
    except Exception:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{Path(name).stem}-failed.png"))
        raise AssertionError(f"the colddiff kernel did not start; JupyterLab shows {page.inner_text(sel)!r}")
    page.wait_for_selector(".jp-StatusBar-Widget :text-matches('colddiff.*Idle')", timeout=120_000)  # ready
    no_news = page.locator(".jp-toast-button:has-text('No')")
    if no_news.count():
        no_news.first.click()                      # JupyterLab's "news?" notification would cover the page
    assert page.locator(f"{PANEL} .jp-RenderedImage img").count() == 0   # nothing shown before the run
    n_code = page.locator(f"{PANEL} .jp-CodeCell").count()
    page.click(".lm-MenuBar-item:has-text('Run')")
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    # every code cell gets an execution count; "Run All" stops at the first error
    try:
        page.wait_for_function(
            """(n) => { const p = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
                       return p.length === n && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }""",
            arg=n_code, timeout=float(os.environ.get("COLDDIFF_BROWSER_TIMEOUT", 1200)) * 1000, polling=1000)
    except Exception:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{Path(name).stem}-failed.png"), full_page=True)
        prompts = page.locator(f"{PANEL} .jp-CodeCell .jp-InputPrompt").all_inner_texts()
        raise AssertionError(f"not every code cell ran ({n_code} code cells; prompts {prompts})")
    text = page.inner_text(f"{PANEL} .jp-Notebook")
    assert "Traceback" not in text and "Error:" not in text.replace("RMSE", ""), text[-3000:]
    imgs = page.locator(f"{PANEL} .jp-RenderedImage img")
    assert imgs.count() >= FIGURES[name]                            # the figures are shown
    if imgs.count():
        imgs.first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{Path(name).stem}.png"))
    page.close()
