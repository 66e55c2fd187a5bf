"""Bad input gets one clear line that names the fix, and nothing is written (a start of the
table-driven suite of issue #12)."""
import os
import subprocess
from pathlib import Path

import pytest

from colddiff_lib.experiments import force_from_env

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("args,line", [
    (["PROFILE=nonsense"], "error: PROFILE='nonsense' is not a profile; use PROFILE=smoke, PROFILE=cpu or PROFILE=paper"),
    (["PROFILE="], "error: PROFILE='' is not a profile; use PROFILE=smoke, PROFILE=cpu or PROFILE=paper"),
    (["FORCE=maybe"], "error: FORCE='maybe' is not a yes/no value; use FORCE=1 to retrain or FORCE=0 (default)"),
])
def test_make_refuses_bad_profile_and_force_before_anything_runs(args, line):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    r = subprocess.run(["make", "--no-print-directory", "reproduce", *args], cwd=REPO, capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == line and r.stdout == ""
    assert not (REPO / "results" / "nonsense").exists()


@pytest.mark.parametrize("value,expected", [("1", True), ("yes", True), ("ON", True), ("true", True),
                                            ("0", False), ("no", False), ("off", False), ("", False), ("False", False)])
def test_force_values(monkeypatch, value, expected):
    monkeypatch.setenv("COLDDIFF_FORCE", value)
    assert force_from_env() is expected


@pytest.mark.parametrize("value", ["maybe", "2", "forse"])
def test_force_refuses_anything_else(monkeypatch, value):
    monkeypatch.setenv("COLDDIFF_FORCE", value)
    with pytest.raises(ValueError, match="is not a yes/no value; use 1 to retrain or 0"):
        force_from_env()
