"""HackSoft's rule, everywhere: services (and any module that queues work) import the tasks at
module level; a task imports its own app's services inside the task's body. Then a service and
its tasks never form an import cycle, and no cycle hides behind a function-local import.
(import-linter follows function-local imports for the layering; this checks where they sit.)"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "crm", "members", "consent", "wecom", "coupons", "engagement", "campaigns", "membercentre",
    "scancodes", "performance", "webhooks", "dashboard", "workbench",
]  # fmt: skip


def _modules() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found.append((path, ".".join(path.relative_to(ROOT).with_suffix("").parts)))
    return found


def _imports(tree: ast.Module, module: str) -> list[tuple[ast.stmt, str, bool]]:
    """(node, absolute module imported, at module level) for every import in the file."""
    top_level = {id(node) for node in tree.body}
    package = module.rsplit(".", 1)[0]
    found: list[tuple[ast.stmt, str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.append((node, f"{base}.{alias.name}", id(node) in top_level))
        elif isinstance(node, ast.Import):
            found.extend((node, alias.name, id(node) in top_level) for alias in node.names)
    return found


def _app(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "crm" and len(parts) > 1 else parts[0]


def test_services_import_tasks_at_module_level_and_tasks_import_services_inside():
    broken = []
    for path, module in _modules():
        is_tasks = module.endswith(".tasks")
        for node, imported, top_level in _imports(ast.parse(path.read_text()), module):
            where = f"{path.relative_to(ROOT)}:{node.lineno} imports {imported}"
            parts = imported.split(".")
            if is_tasks and top_level and "services" in parts and _app(imported) == _app(module):
                broken.append(f"{where} at module level (import it inside the task)")
            if not is_tasks and not top_level and "tasks" in parts:
                broken.append(f"{where} inside a function (import it at module level)")
    assert not broken, "\n".join(broken)
