"""The tools are plain functions over the store: no module of assistant/tools imports the
pipeline, the server or the session runtime (those use the tools, not the other way round)."""

from __future__ import annotations

import ast
from pathlib import Path

import assistant.tools

TOOLS_DIR = Path(assistant.tools.__file__).parent
FORBIDDEN = ("assistant.pipeline", "assistant.server", "assistant.runtime")


def imported_modules(tree: ast.AST) -> set[str]:
    """Every module an `import` or `from ... import` names, anywhere in the file (inside
    functions and `if TYPE_CHECKING:` too), with `from assistant import x` read as assistant.x."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from within assistant.tools
                base = ".".join(["assistant", "tools"][: max(0, 3 - node.level)])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def forbidden_imports(source: str) -> list[str]:
    return sorted(
        name
        for name in imported_modules(ast.parse(source))
        if any(name == f or name.startswith(f"{f}.") for f in FORBIDDEN)
    )


def test_no_tool_module_imports_the_pipeline_server_or_runtime():
    files = sorted(TOOLS_DIR.rglob("*.py"))
    assert len(files) > 3  # the walk found the tools
    found = {
        str(path.relative_to(TOOLS_DIR)): bad
        for path in files
        if (bad := forbidden_imports(path.read_text()))
    }
    assert found == {}


def test_the_check_sees_every_way_of_importing():
    assert forbidden_imports("from assistant.pipeline.tts import voice_update_frame") == [
        "assistant.pipeline.tts",
        "assistant.pipeline.tts.voice_update_frame",
    ]
    assert forbidden_imports("import assistant.server.app") == ["assistant.server.app"]
    assert forbidden_imports("from assistant import runtime") == ["assistant.runtime"]
    lazy = "def f():\n    if True:\n        from assistant.runtime.reminders import X\n"
    assert forbidden_imports(lazy) == [
        "assistant.runtime.reminders",
        "assistant.runtime.reminders.X",
    ]
    assert forbidden_imports("from assistant.store.database import Database") == []
