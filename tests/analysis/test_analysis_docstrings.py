"""Every docstring example in analysis/ runs and prints what it says."""

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import analysis

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(m.name for m in pkgutil.iter_modules(analysis.__path__, "analysis.") if m.name != "analysis.__main__")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # examples read fixtures/paper_export.csv
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_analysis_imports_neither_django_nor_torch():
    import subprocess
    import sys

    code = (
        "import sys, analysis, analysis.report, analysis.cli; "
        "bad = [m for m in ('django', 'torch', 'survey', 'generator') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
