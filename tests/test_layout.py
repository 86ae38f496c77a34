"""Which package may import which: bench/ and fakes/ stand without tests/.

Read from the source (an AST walk), so an import inside a function counts as much as one at
the top of a module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every absolute import in a file; `from x import y` yields x and x.y."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def test_imports_sees_every_form(tmp_path):
    source = tmp_path / "sample.py"
    lines = ["import tests", "def later():", "    from tests.fakes import groq", "from . import x"]
    source.write_text("\n".join(lines) + "\n")
    assert list(imports(source)) == [(1, "tests"), (3, "tests.fakes"), (3, "tests.fakes.groq")]


@pytest.mark.parametrize("package", ["bench", "fakes"])
def test_package_does_not_import_tests(package):
    # What bench runs must not depend on the test suite; fakes/ is what they share instead.
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in imports(path)
        if module == "tests" or module.startswith("tests.")
    ]
    assert offending == []


def test_bench_uses_no_private_names_of_assistant():
    # bench measures the code as it ships: what it needs from us is public API, so a refactor
    # of a module's insides cannot quietly change what a benchmark runs.
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "bench").rglob("*.py"))
        for line, module in imports(path)
        if module.split(".")[0] == "assistant"
        and any(part.startswith("_") and not part.startswith("__") for part in module.split("."))
    ]
    assert offending == []
