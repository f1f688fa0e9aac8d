"""The house's floors: every import points down (or stays on its floor), and production never imports a dev tool.

Read from the source with ast, function-level imports included, so a lazy import cannot climb unseen."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Higher imports lower. handlers/ and web/ share a floor but never import each other.
FLOOR = {"bot": 5, "handlers": 4, "web": 4, "presentation": 3, "services": 2, "payments": 1, "storage": 1}
PRODUCTION = tuple(FLOOR)
DEV_TOOLS = ("emulator", "playground", "bench", "tests")
OURS = PRODUCTION + DEV_TOOLS


def imports_of(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return [(line, name.split(".")[0]) for line, name in found if name.split(".")[0] in OURS]


def modules(package: str) -> list[Path]:
    return sorted(path for path in (ROOT / package).rglob("*.py") if "migrations" not in path.parts)


def wrong_imports(package: str) -> list[str]:
    wrong = []
    for path in modules(package):
        for line, target in imports_of(path):
            where = f"{path.relative_to(ROOT)}:{line} imports {target}"
            if target in DEV_TOOLS:
                wrong.append(f"{where} (a development tool)")
            elif target != package and (
                FLOOR[target] > FLOOR[package] or (FLOOR[target] == FLOOR[package] and FLOOR[package] == 4)
            ):
                wrong.append(f"{where} (climbs up or across a floor)")
    return wrong


@pytest.mark.parametrize("package", PRODUCTION)
def test_production_imports_point_down(package: str) -> None:
    assert modules(package), f"{package}/ has no modules: the floors changed, update FLOOR"
    assert wrong_imports(package) == []


def test_the_emulator_knows_nothing_of_daifu() -> None:
    """The emulator models Telegram; it would be no outside check if it knew the bot it talks to."""
    daifu = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in modules("emulator")
        for line, target in imports_of(path)
        if target not in ("emulator",)
    ]
    assert daifu == []


def test_the_check_sees_a_climbing_import(tmp_path: Path) -> None:
    climbing = tmp_path / "climb.py"
    climbing.write_text("def later():\n    from handlers.notices import deliver\n")
    assert imports_of(climbing) == [(2, "handlers")]


def test_handlers_reach_the_providers_only_through_services() -> None:
    """What a provider is and can do stays in payments/; handlers read it through services (services.providers)."""
    reaching = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in modules("handlers")
        for line, target in imports_of(path)
        if target == "payments"
    ]
    assert reaching == []


@pytest.mark.parametrize("package", ["handlers", "web", "presentation"])
def test_what_people_see_is_drawn_from_read_models_not_tables(package: str) -> None:
    """The chat, the pages and their texts read frozen read models the services hand them (services.read_models):
    they import nothing from storage, so none can write a row or reach a closed session."""
    reaching = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in modules(package)
        for line, target in imports_of(path)
        if target == "storage"
    ]
    assert reaching == []
