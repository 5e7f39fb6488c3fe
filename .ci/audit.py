"""Fail on a known-vulnerable pin in constraints.txt (pip-audit); skip, saying so, when its database is out of reach.

pip-audit asks PyPI's JSON API (each release's `vulnerabilities`) by default. A package index that serves only the
simple index (a mirror, a closed network) answers those look-ups with 404, and pip-audit then reports every package as
"could not be audited" and exits 0: that is a skip, not a pass, and this script says which.

Usage: python .ci/audit.py [constraints.txt]   (exit 1 on a vulnerable pin, 0 otherwise)
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Verdict:
    vulnerable: list[str]  # "name version: id (fixed in …)", one per advisory
    audited: int
    skipped: int

    @property
    def failed(self) -> bool:
        return bool(self.vulnerable)

    def summary(self) -> str:
        if self.vulnerable:
            return "pip-audit: known-vulnerable pins:\n" + "\n".join(f"  - {v}" for v in self.vulnerable)
        if not self.audited:
            return (
                f"pip-audit: skipped, its vulnerability database could not be reached from here "
                f"(none of {self.skipped} pins could be looked up)"
            )
        skipped = f"; {self.skipped} could not be looked up" if self.skipped else ""
        return f"pip-audit: no known vulnerabilities in {self.audited} pins{skipped}"


def verdict(report: dict[str, Any]) -> Verdict:
    """pip-audit's JSON report (`-f json`) read into what matters here."""
    vulnerable: list[str] = []
    audited = skipped = 0
    for dependency in report.get("dependencies", []):
        if dependency.get("skip_reason"):
            skipped += 1
            continue
        audited += 1
        for vuln in dependency.get("vulns", []):
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
            vulnerable.append(f"{dependency['name']} {dependency.get('version', '?')}: {vuln['id']} (fixed in {fixed})")
    return Verdict(vulnerable=vulnerable, audited=audited, skipped=skipped)


def main(argv: list[str]) -> int:
    constraints = Path(argv[1] if len(argv) > 1 else "constraints.txt")
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(constraints),
        "--no-deps",  # constraints.txt pins every package already
        "--disable-pip",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--timeout",
        "15",
    ]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(run.stdout)
    except ValueError:
        lines = (run.stderr.strip() or run.stdout.strip() or "no output").splitlines()
        print(f"pip-audit: skipped, it could not run here ({lines[-1][:300]})")
        return 0
    result = verdict(report)
    print(result.summary())
    return 1 if result.failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
