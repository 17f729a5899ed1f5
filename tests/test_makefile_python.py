"""``PYTHON=python3.12 make test`` uses Python 3.12: a ``.venv`` made by another Python is rebuilt, not reused, and
the install stamps name the interpreter's version."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python(version: str) -> str:
    """The interpreter of ``version`` as ``.ci/run`` finds it: on PATH, else a pyenv install."""
    candidates = [f"python{version}", *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/"
                                                                           f"python{version}")))]
    for candidate in candidates:
        found = shutil.which(candidate) or (candidate if os.path.exists(candidate) else None)
        if found and subprocess.run([found, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return found
    pytest.skip(f"no Python {version} on this machine")


def venv_version(folder: Path) -> str:
    return subprocess.run([str(folder / ".venv/bin/python"), "-c", "import sys; print(sys.version_info[:2])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_a_venv_of_another_python_is_rebuilt(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(ROOT / "requirements.lock", tmp_path / "requirements.lock")

    def make(*args: str) -> subprocess.CompletedProcess[str]:
        # not the caller's VENV, nor a calling make's command-line variables (MAKEFLAGS carries them to a sub-make)
        env = {key: value for key, value in os.environ.items() if key not in ("VENV", "MAKEFLAGS", "MFLAGS",
                                                                              "MAKELEVEL")}
        return subprocess.run(["make", "--no-print-directory", *args, "VENV=.venv"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=True)

    make("venv", f"PYTHON={python('3.11')}")
    assert venv_version(tmp_path) == "(3, 11)"
    make("venv", f"PYTHON={python('3.12')}")
    assert venv_version(tmp_path) == "(3, 12)", "the 3.11 venv was replaced"
    marker = tmp_path / ".venv/kept"
    marker.touch()
    make("venv", f"PYTHON={python('3.12')}")
    assert marker.exists(), "a venv of the same Python is kept"
    stamp = make("-n", "unit", f"PYTHON={python('3.13')}").stdout
    assert ".venv/.installed-py3.13-" in stamp


def test_an_unknown_python_is_one_clear_line(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(ROOT / "requirements.lock", tmp_path / "requirements.lock")
    result = subprocess.run(["make", "venv", "PYTHON=python3.99"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode != 0
    assert "python3.99 not found: set PYTHON to a Python 3.11, 3.12 or 3.13" in result.stderr
