"""What gets installed: the lock files say the same as pyproject.toml, a production install carries no test or
browser tooling, and the package ships its licence and type hints. Read from the files, no network."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)")
DEV_TOOLS = ("pytest", "pytest-asyncio", "pytest-xdist", "playwright", "schemathesis", "hypothesis", "ruff", "mypy")
TYPED = ("bot", "handlers", "web", "presentation", "services", "payments", "storage")


def pins(lock: str) -> dict[str, str]:
    """A lock file's versions by package name; each entry must carry its hashes (pip install --require-hashes)."""
    entries = re.split(r"\n(?=\S)", (ROOT / "requirements" / lock).read_text())
    found = {}
    for entry in entries:
        if entry.startswith("#") or not entry.strip():
            continue
        pinned = PIN.match(entry)
        assert pinned, f"{lock}: not an exact pin: {entry.splitlines()[0]}"
        assert "--hash=sha256:" in entry, f"{lock}: {pinned[1]} has no hash"
        found[canonicalize_name(pinned[1])] = pinned[2]
    return found


def requirements(*extras: str) -> list[Requirement]:
    listed = [*PROJECT["dependencies"], *(line for extra in extras for line in EXTRAS[extra])]
    return [Requirement(line) for line in listed]


def unmet(wanted: list[Requirement], pinned: dict[str, str]) -> list[str]:
    """The requirements (for Python 3.11 on Linux, as CI and the image run) the pins leave out or miss."""
    linux = {"sys_platform": "linux", "python_version": "3.11", "platform_system": "Linux"}
    missed = []
    for requirement in wanted:
        if requirement.marker is not None and not requirement.marker.evaluate(linux):
            continue
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            missed.append(str(requirement))
    return missed


def test_a_production_install_carries_no_test_or_browser_tooling() -> None:
    assert [tool for tool in DEV_TOOLS if tool in pins("production.txt")] == []


def test_a_production_install_has_every_runtime_dependency_and_every_provider_sdk() -> None:
    assert unmet(requirements("all"), pins("production.txt")) == []


def test_the_lock_is_in_step_with_pyproject() -> None:
    """After a change to pyproject.toml's dependencies, `make lock` brings the lock files along."""
    dev = pins("dev.txt")
    assert unmet(requirements(*EXTRAS), dev) == [], "run make lock"
    # The tests run what production runs: dev.txt is production.txt plus the tools.
    production = pins("production.txt")
    assert {name: dev.get(name) for name in production} == production


def test_every_extra_is_named_in_the_start_error_and_all_holds_them() -> None:
    sdks = {"stripe": "stripe", "wechatpay": "wechatpayv3", "alipay": "python-alipay-sdk"}
    for extra, package in sdks.items():
        assert [Requirement(line).name for line in EXTRAS[extra]] == [package]
    # Listed again rather than as daifu[...] (see pyproject.toml): the same lines, so they cannot drift apart.
    every_sdk = [line for extra in sdks for line in EXTRAS[extra]]
    assert EXTRAS["all"] == every_sdk
    assert set(every_sdk) <= set(EXTRAS["dev"])
    assert not {Requirement(line).name for line in PROJECT["dependencies"]} & set(sdks.values())


@pytest.mark.parametrize("package", TYPED)
def test_the_typed_packages_ship_their_type_hints(package: str) -> None:
    assert (ROOT / package / "py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["*"]


def test_the_licence_is_the_one_pyproject_names() -> None:
    assert PROJECT["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) 2026 the daifu authors\n")
