"""engine/ is Odoo-free: no module below it may import odoo (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1]


def _odoo_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # "from .. import x" (level > 0) would leave the engine package too.
            if node.level > 0 and _escapes_engine(path, node.level):
                found.append(
                    f"{path.relative_to(ENGINE.parent)}:{node.lineno} relative import out of engine"
                )
                continue
            names = [node.module or ""] if node.level == 0 else []
        elif isinstance(node, ast.Call) and getattr(
            node.func, "id", getattr(node.func, "attr", "")
        ) in (
            "import_module",
            "__import__",
        ):
            names = [
                a.value
                for a in node.args[:1]
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
        else:
            continue
        for name in names:
            if name == "odoo" or name.startswith("odoo."):
                found.append(f"{path.relative_to(ENGINE.parent)}:{node.lineno} imports {name}")
    return found


def _escapes_engine(path: Path, level: int) -> bool:
    package = path.parent
    for _ in range(level - 1):
        package = package.parent
    return ENGINE not in (package, *package.parents)


def test_engine_never_imports_odoo():
    files = sorted(ENGINE.rglob("*.py"))
    assert any(f.name == "imap.py" for f in files)
    problems = [p for f in files for p in _odoo_imports(f)]
    assert problems == []


def test_detector_catches_odoo_imports(tmp_path):
    bad = ENGINE / "tests" / "_probe_not_a_test.py"
    try:
        bad.write_text(
            "import odoo.tools\nfrom odoo import models\nfrom ... import x\n", encoding="utf-8"
        )
        found = _odoo_imports(bad)
    finally:
        bad.unlink()
    assert len(found) == 3
