"""The layering the deployment relies on: the web process never imports torch or the generator, the
analysis package imports neither Django nor torch, and the platform reaches the statistics only through
its export.

Each check runs in a fresh interpreter in which the forbidden packages cannot be imported at all (an
import hook refuses them), so it holds on a web host where torch is not installed, and it fails loudly,
naming the importer, where a module reaches for them at import time.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Refuses the named top-level packages in the child interpreter, before anything else is imported.
_BLOCKER = """
import importlib.abc, sys, traceback
BLOCKED = {blocked!r}
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            stack = ''.join(traceback.format_stack(limit=12))
            raise ImportError(f'{{name}} is outside this process boundary; imported from:\\n{{stack}}')
        return None
sys.meta_path.insert(0, Refuse())
"""

# Every module of the web tier: settings, URLs (and so every view), WSGI, the admin, the API, and each
# survey module except the management package (its commands and the batch services they share), which may use the generator.
_WEB_TIER = """
import os, pkgutil, importlib
os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings_test'
import django
django.setup()
import config.urls, config.wsgi
from django.urls import get_resolver
get_resolver().url_patterns
import survey
for module in pkgutil.walk_packages(survey.__path__, 'survey.'):
    if '.management.' in module.name or '.migrations.' in module.name \
            or module.name.endswith('__main__'):
        continue
    importlib.import_module(module.name)
print('web tier imported')
"""

_ANALYSIS = """
import pkgutil, importlib
import analysis
for module in pkgutil.walk_packages(analysis.__path__, 'analysis.'):
    if not module.name.endswith('__main__'):
        importlib.import_module(module.name)
print('analysis imported')
"""


def _run_fenced(code: str, blocked: set[str]) -> subprocess.CompletedProcess[str]:
    script = _BLOCKER.format(blocked=sorted(blocked)) + code
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )


def test_it_serves_the_web_tier_without_torch_or_the_generator():
    result = _run_fenced(_WEB_TIER, {"torch", "generator", "torchvision", "safetensors"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "web tier imported" in result.stdout


def test_it_runs_the_analysis_without_django_torch_or_the_platform():
    result = _run_fenced(_ANALYSIS, {"django", "rest_framework", "torch", "survey", "generator"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "analysis imported" in result.stdout


def test_the_fence_itself_refuses_a_blocked_import():
    """The check above would pass vacuously if the hook never fired."""
    result = _run_fenced("import json\nimport generator\n", {"generator"})
    assert result.returncode != 0
    assert "generator is outside this process boundary" in result.stderr


def test_the_manifest_rule_is_shared_without_django_or_torch():
    """survey's web tier and generator's batch jobs both read manifests through `manifest`."""
    result = _run_fenced("import manifest\nprint('manifest imported')\n", {"django", "torch", "survey", "generator"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "manifest imported" in result.stdout


def _imports_anywhere(path: Path) -> list[tuple[str, int]]:
    """(module, line) for every absolute import in `path`, at module level or deferred inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def _survey_modules() -> list[Path]:
    return [p for p in sorted((ROOT / "survey").rglob("*.py")) if "migrations" not in p.parts]


def test_no_web_module_reaches_for_the_generator_even_lazily():
    """A deferred import inside a function still runs in the web process when that function does; only
    the management package (commands and the batch services they and the worker share) may import it."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in _survey_modules()
        if "management" not in path.parts
        for module, line in _imports_anywhere(path)
        if module.split(".")[0] in {"torch", "generator"}
    ]
    assert not offenders, offenders


def test_the_platform_reaches_the_statistics_only_through_its_export():
    """One survey module imports analysis, the dashboard, and what it gives analysis is the export."""
    importers = {
        str(path.relative_to(ROOT))
        for path in _survey_modules()
        if any(module.split(".")[0] == "analysis" for module, _ in _imports_anywhere(path))
    }
    assert importers == {"survey/dashboard.py"}
    dashboard = (ROOT / "survey" / "dashboard.py").read_text(encoding="utf-8")
    assert "answers = export.answers_frame(study)" in dashboard
    assert "analysis.load_export(answers)" in dashboard
