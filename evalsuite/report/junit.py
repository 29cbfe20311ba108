"""The drift gate as a JUnit XML file, the format CI systems (GitHub Actions, GitLab,
Jenkins) display as a test report: one test suite per comparison, one test case per
gated metric, a ``<failure>`` for each metric that dropped past its tolerance."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from evalsuite.drift.gate import Check
from evalsuite.storage.atomic import write_text


def junit_xml(gate: dict[str, Any], baseline: str) -> str:
    checks = gate["checks"]
    root = ET.Element("testsuites", name="evalsuite.gate", tests=str(len(checks)),
                      failures=str(gate["failures"]), errors="0")
    by_comparison: dict[str, list[dict[str, Any]]] = {}
    for c in checks:
        by_comparison.setdefault(c["comparison"], []).append(c)
    for comparison, cs in by_comparison.items():
        suite = ET.SubElement(root, "testsuite", name=f"{baseline} -> {comparison}",
                              tests=str(len(cs)), failures=str(sum(not c["passed"] for c in cs)),
                              errors="0", skipped="0")
        for c in map(lambda x: Check(**x), cs):
            case = ET.SubElement(suite, "testcase", classname=c.task, name=c.metric,
                                 time="0")
            drop, p = c.numbers()
            text = (f"drop {drop} (positive: worse), tolerance {c.tolerance:g} "
                    f"({c.rule}), Holm p={p}")
            if c.passed:
                ET.SubElement(case, "system-out").text = text
            else:
                failure = ET.SubElement(case, "failure", type="drift",
                                        message=f"dropped {drop} > {c.tolerance:g}")
                failure.text = text
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(path: Path, gate: dict[str, Any], baseline: str) -> Path:
    write_text(path, junit_xml(gate, baseline))
    return path
