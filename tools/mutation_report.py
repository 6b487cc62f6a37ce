"""Summarize a mutmut run (make mutation): score and surviving mutants, written to a Markdown report.

    python tools/mutation_report.py build/mutation/report.md

Reads mutmut's own outputs (``mutmut export-cicd-stats`` and ``mutmut results``) in the current directory.
Score: killed / (killed + survived + timed out); mutants no test reaches are listed apart (they need a test
that runs the code at all, a different gap from a test that runs it without checking).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path


def module_of(mutant: str) -> str:
    """``triton_speech.gateway.keys`` of ``triton_speech.gateway.keys.xǁKeyStoreǁcreate__mutmut_3``."""
    return re.match(r"(.*?)\.x[_ǁ]", mutant).group(1)


def per_module(lines: list[str]) -> list[str]:
    """A table of killed / judged per module, from ``mutmut results --all true`` lines (``NAME: status``)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for line in lines:
        name, _, status = line.strip().rpartition(": ")
        if name:
            counts[module_of(name)][status] += 1
    rows = ["| module | killed / judged | score | survived | timed out | no tests |",
            "| --- | --- | --- | --- | --- | --- |"]
    for module, count in sorted(counts.items()):
        judged = count["killed"] + count["survived"] + count["timeout"]
        score = f"{count['killed'] / judged:.1%}" if judged else "-"
        rows.append(f"| {module} | {count['killed']} / {judged} | {score} | {count['survived']} | {count['timeout']} "
                    f"| {count['no tests']} |")
    return rows


def main(output: Path) -> int:
    subprocess.run([sys.executable, "-m", "mutmut", "export-cicd-stats"], check=True, capture_output=True)
    stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
    results = subprocess.run([sys.executable, "-m", "mutmut", "results"], check=True, capture_output=True,
                             text=True).stdout.splitlines()
    survivors = [line.strip().split(":")[0] for line in results if line.strip().endswith(": survived")]
    every = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], check=True,
                           capture_output=True, text=True).stdout.splitlines()
    judged = stats["killed"] + stats["survived"] + stats["timeout"]
    score = stats["killed"] / judged if judged else 0.0
    lines = [
        "# Mutation testing (mutmut)", "",
        f"Score: **{score:.1%}** ({stats['killed']} killed of {judged}: {stats['survived']} survived, "
        f"{stats['timeout']} timed out). Not reached by any test: {stats['no_tests']}. "
        f"Suspicious: {stats.get('suspicious', 0)}, skipped: {stats.get('skipped', 0)}.", "",
        *per_module(every), "",
        "Surviving mutants (`mutmut show NAME` prints the change):", "",
        *(f"- `{name}`" for name in survivors),
    ]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:3]))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("build/mutation/report.md")))
