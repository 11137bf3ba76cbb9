"""``newsletter check --format``: the findings as JSON, JUnit XML or SARIF for CI.

JUnit XML and SARIF 2.1.0 are what CI systems and code hosts read to show
findings in a pull request, each on the line of the issue file it concerns.
All three are written from the same findings ``check`` prints as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from newsletter.compose.model import ERROR, ComposeResult, Finding

FORMATS = ("text", "json", "junit", "sarif")
_PLACE = re.compile(r"^(?P<file>.*?)(?::(?P<line>\d+))?$")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def location(finding: Finding) -> tuple[str, int | None]:
    """``(file, line)`` of a finding's ``where`` (``issue.md:12``); line is ``None`` when not known."""
    match = _PLACE.match(finding.where or "")
    file = match.group("file") if match else finding.where
    line = int(match.group("line")) if match and match.group("line") else None
    return file, line


def failed(findings: Sequence[Finding], strict: bool) -> bool:
    """True when ``check`` fails: any error, or any finding at all with ``strict``."""
    return any(f.severity == ERROR for f in findings) or (strict and bool(findings))


def render(fmt: str, result: ComposeResult, findings: Sequence[Finding], *, strict: bool = False, spam: Any = None) -> str:
    """The findings of ``result`` in format ``fmt`` (``json``, ``junit`` or ``sarif``).

    ``spam`` is an optional ``SpamReport`` (``check --spam``), included in JSON.
    """
    if fmt == "json":
        return to_json(result, findings, strict=strict, spam=spam)
    if fmt == "junit":
        return to_junit(result, findings, strict=strict)
    if fmt == "sarif":
        return to_sarif(findings)
    raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")


def to_json(result: ComposeResult, findings: Sequence[Finding], *, strict: bool = False, spam: Any = None) -> str:
    """One JSON object: the issue, counts, the findings with file and line, and the spam report."""
    items = []
    for finding in findings:
        file, line = location(finding)
        items.append({**finding.as_dict(), "file": file, "line": line})
    document = {
        "issue": str(result.issue.path),
        "subject": result.issue.subject,
        "html_bytes": len(result.html.encode("utf-8")),
        "ok": not failed(findings, strict),
        "errors": sum(f.severity == ERROR for f in findings),
        "warnings": sum(f.severity != ERROR for f in findings),
        "findings": items,
        "spam": spam.as_dict() if spam is not None else None,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_junit(result: ComposeResult, findings: Sequence[Finding], *, strict: bool = False) -> str:
    """JUnit XML: one test case per finding (failed if an error, or with ``strict``), or one passing case."""
    from xml.etree import ElementTree as ET

    issue = str(result.issue.path)
    failing = [f for f in findings if f.severity == ERROR or strict]
    suite = ET.Element(
        "testsuite", name=f"newsletter check {issue}", tests=str(max(1, len(findings))), failures=str(len(failing)), errors="0"
    )
    if not findings:
        ET.SubElement(suite, "testcase", classname=issue, name="checks")
    for finding in findings:
        file, line = location(finding)
        case = ET.SubElement(suite, "testcase", classname=file or issue, name=f"{finding.code} {finding.where}".strip(), file=file)
        if line is not None:
            case.set("line", str(line))
        if finding in failing:
            failure = ET.SubElement(case, "failure", type=finding.severity, message=finding.message)
            failure.text = str(finding)
        else:
            ET.SubElement(case, "system-out").text = str(finding)
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def to_sarif(findings: Sequence[Finding]) -> str:
    """SARIF 2.1.0: one run of the tool ``newsletter check``, one result per finding."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for finding in findings:
        rules.setdefault(finding.code, {"id": finding.code, "name": finding.code, "shortDescription": {"text": finding.code}})
        file, line = location(finding)
        region = {"startLine": line} if line is not None else {}
        physical: dict[str, Any] = {"artifactLocation": {"uri": file}}
        if region:
            physical["region"] = region
        results.append(
            {
                "ruleId": finding.code,
                "level": "error" if finding.severity == ERROR else "warning",
                "message": {"text": finding.message},
                "locations": [{"physicalLocation": physical}],
            }
        )
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "newsletter check", "rules": list(rules.values())}}, "results": results}],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
