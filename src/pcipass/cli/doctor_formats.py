"""The doctor's CI formats: SARIF 2.1.0 and JUnit XML, made from the JSON document.

* SARIF (``-f sarif``): one rule per check, one result per finding. A finding
  whose evidence has a file line gets a physical location (file + line, so
  code scanning can annotate the config); host findings get a logical
  location ``<host>/<subject>``. ``skip`` results are ``kind: notApplicable``.
* JUnit (``-f junit``): one test suite per layer, one test case per finding
  (``classname = <layer>.<id>``, ``name = <host>:<subject>``); ``fail`` is a
  ``<failure>``, ``skip`` a ``<skipped>``, ``warn``/``info`` pass with the
  message in ``<system-out>``. Checks that found nothing on a host are
  passing cases, so the count of tests is the count of checks run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

import pcipass
from pcipass.core.severity import Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {Severity.FAIL: "error", Severity.WARN: "warning", Severity.INFO: "note", Severity.SKIP: "none"}
INFO_URI = "https://opendev.org/pcipass/pcipass/src/branch/main/docs/doctor-checks.md"


def to_sarif(doc: dict[str, Any], checks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A SARIF 2.1.0 log of the doctor document; ``checks`` are the checks' JSON."""
    index = {c["id"]: i for i, c in enumerate(checks)}
    rules = [{"id": c["id"], "name": c["title"], "shortDescription": {"text": c["title"]},
              "fullDescription": {"text": c["doc"]}, "help": {"text": c["doc"]},
              "helpUri": f"{INFO_URI}#{c['id'].lower()}",
              "properties": {"layer": c["layer"]}} for c in checks]
    results = [_sarif_result(f, index) for f in doc["findings"]]
    return {"version": "2.1.0", "$schema": SARIF_SCHEMA, "runs": [{
        "tool": {"driver": {"name": "pcipass", "version": pcipass.__version__,
                            "informationUri": INFO_URI, "rules": rules}},
        "results": results,
        "properties": {"summary": doc["summary"], "broken_layers": doc.get("broken_layers", [])}}]}


def _sarif_result(f: dict[str, Any], index: dict[str, int]) -> dict[str, Any]:
    text = f["message"] + (f" Fix: {f['fix']}" if f.get("fix") else "")
    out: dict[str, Any] = {"ruleId": f["id"], "level": SARIF_LEVEL[f["severity"]],
                           "message": {"text": text}, "locations": [_location(f)],
                           "properties": {"host": f["host"], "subject": f["subject"], "layer": f["layer"],
                                          "severity": f["severity"], "fix": f["fix"],
                                          "evidence": f["evidence"]}}
    if f["id"] in index:
        out["ruleIndex"] = index[f["id"]]
    if f["severity"] == Severity.SKIP:
        out["kind"] = "notApplicable"
    return out


def _location(f: dict[str, Any]) -> dict[str, Any]:
    located = next((e for e in f["evidence"] if e.get("line")), None)
    if located is not None:
        return {"physicalLocation": {"artifactLocation": {"uri": _uri(located["source"])},
                                     "region": {"startLine": int(located["line"])}}}
    host = f["host"] or "cloud"
    return {"logicalLocations": [{"name": f["subject"], "fullyQualifiedName": f"{host}/{f['subject']}",
                                  "kind": "resource"}]}


def _uri(path: str) -> str:
    """File paths as SARIF URIs: relative paths stay relative (to the repository), spaces escaped.

    A name that is not UTF-8 keeps its bytes, percent-encoded (``bad%FF.conf``).
    """
    from urllib.parse import quote  # ~1.7 ms, for -f sarif only

    return quote(path, safe="/:._-~", errors="surrogateescape")


def to_junit(doc: dict[str, Any], checks: Sequence[dict[str, Any]]) -> str:
    """JUnit XML of the doctor document (one ``<testsuite>`` per layer)."""
    hosts = [h["name"] for h in doc["hosts"]]
    suites = ET.Element("testsuites", name="pcipass doctor")
    by_layer: dict[str, ET.Element] = {}
    seen: set[tuple[str, str | None]] = set()
    for f in doc["findings"]:
        suite = _suite(suites, by_layer, f["layer"])
        _case(suite, f)
        seen.add((f["id"], f["host"]))
    for c in checks:
        targets: list[str | None] = [None] if c["scope"] == "global" else list(hosts)
        for host in targets:
            if (c["id"], host) not in seen:
                ET.SubElement(_suite(suites, by_layer, c["layer"]), "testcase",
                              classname=f"{c['layer']}.{c['id']}", name=f"{host or '*'}:{c['title']}")
    for suite in suites:
        cases = list(suite)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for t in cases if t.find("failure") is not None)))
        suite.set("skipped", str(sum(1 for t in cases if t.find("skipped") is not None)))
        suite.set("errors", "0")
    for key in ("tests", "failures", "skipped", "errors"):
        suites.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _suite(root: ET.Element, by_layer: dict[str, ET.Element], layer: str) -> ET.Element:
    if layer not in by_layer:
        by_layer[layer] = ET.SubElement(root, "testsuite", name=layer)
    return by_layer[layer]


def _case(suite: ET.Element, f: dict[str, Any]) -> None:
    case = ET.SubElement(suite, "testcase", classname=f"{f['layer']}.{f['id']}",
                         name=f"{f['host'] or '*'}:{f['subject']}")
    body = "\n".join([f["message"], *(f"evidence: {e['source']}" + (f":{e['line']}" if e.get("line") else "")
                                       + f" = {e['value']}" for e in f["evidence"]),
                      *([f"fix: {f['fix']}"] if f.get("fix") else [])])
    if f["severity"] == Severity.FAIL:
        ET.SubElement(case, "failure", message=f["message"], type=f["id"]).text = body
    elif f["severity"] == Severity.SKIP:
        ET.SubElement(case, "skipped", message=f["message"])
    else:
        ET.SubElement(case, "system-out").text = f"{f['severity'].upper()}: {body}"
