"""``docs/problem-codes.md``: the problem code table printed as a reference page, by area.

:func:`pcipass.core.codes.markdown` prints the registry with it; a test keeps the
page equal to that output. Pure, standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence

from pcipass.core.problemcode import Area, Code, Origin


_ORIGIN_TEXT = {Origin.NOVA: "Nova", Origin.OSLO_CONFIG: "oslo.config", Origin.PCIPASS: "pcipass"}

_INTRO = """\
# Problem codes

Generated from `src/pcipass/core/codes.py` by `codes.markdown()`; do not edit by hand
(`tests/unit/test_problem_codes.py` fails when the two differ). Regenerate with

```sh
.venv/bin/python -c "from pcipass.core import codes; print(codes.markdown(), end='')" \\
    > docs/problem-codes.md
```

A problem code is the `code` of an Error object (contracts §2): in the errors and warnings of
`config check`, `flavor explain`, `scan` and `schedule`, and in the doctor's evidence. It is Nova's
exception class name where Nova has one (origin *Nova*), oslo.config's where Nova stops with an
oslo.config error (*oslo.config*), and pcipass's own name otherwise (*pcipass*: Nova accepts the
input silently, or fails without a class of its own). Severity *error* is reported among the errors
(exit code 2), *warning* among the warnings (exit code 1); *varies* is explained in the meaning.
The layer is the passthrough layer the code concerns, as the doctor names it, where one applies.
Doctor findings have ids of their own: see [doctor-checks.md](doctor-checks.md).
"""


def markdown(table: Sequence[Code]) -> str:
    """The page: every code of ``table`` with its meaning, origin, severity and layer, by area."""
    by_area = {area: [c for c in table if c.area is area] for area in Area}
    lines = [_INTRO.rstrip("\n"), "", f"{len(table)} codes, by the input they are about:", ""]
    lines += [f"- [{area.title}](#{_anchor(area.title)})" for area in Area if by_area[area]]
    for area in Area:
        members = by_area[area]
        if not members:
            continue
        lines += ["", f"## {area.title}", "", area.description, "",
                  "| code | meaning | origin | severity | layer |", "|---|---|---|---|---|"]
        for c in members:
            severity = c.severity.value if c.severity is not None else "varies"
            layer = f"`{c.layer.value}`" if c.layer is not None else ""
            meaning = c.meaning.replace("|", "\\|")
            lines.append(f"| `{c.name}` | {meaning} | {_ORIGIN_TEXT[c.origin]} | {severity} | {layer} |")
    return "\n".join(lines) + "\n"


def _anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")
