"""Differential: the CPU set grammar equals Nova's ``parse_cpu_spec`` on values below the bounds.

pcipass refuses what Nova accepts only beyond its bounds (a range over 65,536
CPUs, a CPU at or beyond 8,192: no kernel has it); inside them, every value gives
the same CPUs, and a value one refuses the other refuses too.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.core import cpuset
from support import require_module

hardware = require_module("nova.virt.hardware")
exception = require_module("nova.exception")

pytestmark = pytest.mark.nova

_RULES = st.one_of(st.integers(0, 99).map(str),
                   st.tuples(st.integers(0, 99), st.integers(-3, 30)).map(lambda t: f"{t[0]}-{t[0] + t[1]}"),
                   st.integers(0, 99).map(lambda n: f"^{n}"),
                   st.tuples(st.integers(0, 99), st.integers(0, 9)).map(lambda t: f"^{t[0]}-{t[0] + t[1]}"),
                   st.sampled_from(["", " 3 ", "x", "^x", "1-", "-1", "5_0", "+7", " 2 - 4 ", "^",
                                    "1-2-3", "0x10", "\u0664"]))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(rules=st.lists(_RULES, max_size=6))
def test_cpu_sets_equal_novas(rules: list[str]) -> None:
    value = ",".join(rules)
    try:
        nova: frozenset[int] | None = frozenset(hardware.parse_cpu_spec(value))
    except exception.Invalid:
        nova = None
    try:
        ours: frozenset[int] | None = cpuset.parse(value, "opt")
    except cpuset.InvalidCpuSet:
        ours = None
    assert ours == nova, value
