"""The packages' imports point one way, cli → evaluation → webapp → retrieval → indexer, and the query engine
loads no Flask: read from every module's source (lazy imports inside functions included) and from a fresh
interpreter's sys.modules."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
ORDER = ("indexer", "retrieval", "webapp", "evaluation", "cli")  # each may import only those before it


def imported_packages(source: Path) -> set[str]:
    """Top-level names of every absolute import in a module, wherever in the module it is."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_scan_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from webapp.app import create_app\n    import cli.main\n")
    assert imported_packages(module) == {"os", "webapp", "cli"}


@pytest.mark.parametrize("package", ORDER)
def test_no_package_imports_one_above_it(package: str) -> None:
    above = set(ORDER[ORDER.index(package) + 1 :])
    modules = sorted((PROJECT / package).rglob("*.py"))
    assert modules, f"no modules found under {package}/"
    wrong = {str(m.relative_to(PROJECT)): sorted(imported_packages(m) & above) for m in modules}
    assert {m: names for m, names in wrong.items() if names} == {}


def test_importing_the_query_engine_loads_no_flask() -> None:
    modules = sorted(
        f"retrieval.{m.stem}" for m in (PROJECT / "retrieval").glob("*.py") if m.stem != "__init__"
    )
    probe = (
        "import importlib, json, sys\n"
        f"for name in ['retrieval', *{modules!r}]:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in "
        "('flask', 'werkzeug', 'jinja2', 'webapp', 'evaluation', 'cli'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    assert "retrieval.search" in modules
    assert json.loads(done.stdout) == []
