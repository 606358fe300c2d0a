"""Every error code has its text in both languages the product speaks, declared one way in its
app's error_codes module (crm/errors.py), and every code a service raises is one of them."""

import ast
import importlib
import string
from pathlib import Path

from crm.errors import ERROR_TEXTS, ErrorText

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "crm", "members", "consent", "wecom", "coupons", "engagement", "campaigns", "membercentre",
    "scancodes", "performance", "webhooks", "dashboard", "workbench",
]  # fmt: skip
# Callables whose first argument (or `code=`) is an error code.
RAISERS = {"AppError", "NotFound", "Conflict", "api_error", "error_detail", "problem_response"}


def _error_code_modules() -> list[str]:
    return sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for package in PACKAGES
        for path in (ROOT / package).rglob("error_codes.py")
    )


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _declared_codes(path: Path) -> set[str]:
    """The module's own `NAME = "code"` constants (not names it imports)."""
    return {
        node.value.value
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        and all(isinstance(target, ast.Name) and target.id.isupper() for target in node.targets)
    }


def test_every_code_has_chinese_and_english_text_with_the_same_placeholders():
    modules = _error_code_modules()
    assert len(modules) >= 12, modules
    missing = []
    for name in modules:
        module = importlib.import_module(name)
        texts = module.TEXTS
        codes = _declared_codes(Path(module.__file__))
        missing += [f"{name}: {code} has no text" for code in sorted(codes - set(texts))]
        for code, text in texts.items():
            assert isinstance(text, ErrorText), (name, code)
            assert text.zh.strip() and text.en.strip(), (name, code)
            assert _placeholders(text.zh) == _placeholders(text.en), (name, code)
            assert ERROR_TEXTS[code] == text, f"{name}: {code} is not registered (error_texts_register(TEXTS))"
    assert not missing, "\n".join(missing)


def _literal_codes() -> list[tuple[str, str]]:
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if callee not in RAISERS:
                    continue
                arguments = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "code")]
                for argument in arguments:
                    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                        found.append((f"{path.relative_to(ROOT)}:{node.lineno}", argument.value))
    return found


def test_every_code_raised_by_name_is_declared():
    for name in _error_code_modules():
        importlib.import_module(name)
    literals = _literal_codes()
    assert literals  # the partner API names its own codes by their text (crm/api/error_codes.py)
    undeclared = [f"{where}: {code}" for where, code in literals if code not in ERROR_TEXTS]
    assert not undeclared, "\n".join(undeclared)


def test_an_english_caller_reads_english_for_a_code_raised_with_a_chinese_message(settings):
    from django.utils import translation

    from crm.api.exceptions import problem_exception_handler
    from crm.errors import AppError
    from members import error_codes

    with translation.override("en"):
        response = problem_exception_handler(AppError(error_codes.POINTS_INSUFFICIENT, "积分不足，还差 20 分。"), {})
    assert response.data["code"] == "points_insufficient"
    assert response.data["detail"] == "Not enough points."
    with translation.override("zh-hans"):
        response = problem_exception_handler(AppError(error_codes.POINTS_INSUFFICIENT, "积分不足，还差 20 分。"), {})
    assert response.data["detail"] == "积分不足，还差 20 分。"
