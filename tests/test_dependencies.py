"""The dependency pins: constraints.txt covers and satisfies pyproject.toml, and .ci/audit.py reads pip-audit right."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def audit_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_audit", ROOT / ".ci" / "audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt pins exact versions only: {line!r}"
            found[canonicalize_name(name)] = version
    return found


def test_every_dependency_is_pinned_within_its_bounds():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pinned = pins()
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside pyproject's {requirement.specifier}"
        )


def test_the_readme_command_installs_with_the_constraints():
    command = (ROOT / ".ci" / "run").read_text()
    assert "-c constraints.txt" in command and ".ci/audit.py" in command
    assert command.splitlines()[-1].split(") && ", 1)[-1] in (ROOT / "README.md").read_text()


def test_a_vulnerable_pin_fails():
    audit = audit_module()
    report = {
        "dependencies": [
            {"name": "aiohttp", "version": "3.9.0", "vulns": [{"id": "GHSA-xxxx", "fix_versions": ["3.9.2"]}]},
            {"name": "httpx", "version": "0.29.0", "vulns": []},
        ]
    }
    result = audit.verdict(report)
    assert result.failed
    assert "aiohttp 3.9.0: GHSA-xxxx (fixed in 3.9.2)" in result.summary()


def test_an_unreachable_database_is_a_skip_said_aloud():
    audit = audit_module()
    skipped = {"name": "aiohttp", "skip_reason": "Dependency not found on PyPI and could not be audited"}
    result = audit.verdict({"dependencies": [skipped, {**skipped, "name": "pillow"}]})
    assert not result.failed
    assert result.summary().startswith("pip-audit: skipped")


def test_clean_pins_pass_and_say_how_many_were_looked_up():
    audit = audit_module()
    result = audit.verdict(
        {
            "dependencies": [
                {"name": "httpx", "version": "0.29.0", "vulns": []},
                {"name": "aiohttp", "skip_reason": "not found"},
            ]
        }
    )
    assert not result.failed
    assert result.summary() == "pip-audit: no known vulnerabilities in 1 pins; 1 could not be looked up"
