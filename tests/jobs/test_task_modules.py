"""Every module that defines jobs is loaded by the worker.

A task defined in a module the worker never imports is deferred by the API but never
run (procrastinate finds tasks through the app's import paths), and a periodic one is
never even deferred: nothing fails, the work silently does not happen.
"""

from __future__ import annotations

import ast
from pathlib import Path

from medhub.kit.jobs import TASK_MODULES

SOURCE = Path(__file__).resolve().parents[2] / "src" / "medhub"


def _defines_jobs(path: Path) -> bool:
    """Whether the module decorates a function with `jobs_app.task` or `.periodic`."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr in {"task", "periodic"}
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "jobs_app"
                ):
                    return True
    return False


def _module_name(path: Path) -> str:
    return "medhub." + ".".join(path.relative_to(SOURCE).with_suffix("").parts)


def test_every_module_defining_jobs_is_a_task_module() -> None:
    defining = {_module_name(path) for path in SOURCE.rglob("*.py") if _defines_jobs(path)}
    assert defining, "the scan found no job at all: it is looking in the wrong place"
    assert defining - set(TASK_MODULES) == set()
