"""CPU lists never expand past a bound: sysfs cpulists and Nova's CPU set options."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcipass.adapters import sysnuma
from pcipass.core import cpuset, numa
from pcipass.services import cpusets

POSSIBLE_0_7 = cpuset.CpuBound(((0, 7),), sysnuma.POSSIBLE_CPUS)


def test_huge_ranges_keep_only_the_bound() -> None:
    text = ",".join(["0-1000000"] * 4000)
    got = cpuset.bounded_list(text, bound=POSSIBLE_0_7)
    assert got == cpuset.CpuList(tuple(range(8)), ((8, 1000000),))
    fixed = cpuset.bounded_list(text, bound=cpuset.CpuBound.fixed())
    assert fixed is not None and fixed.cpus == tuple(range(8192))
    assert fixed.dropped == ((8192, 1000000),)


@pytest.mark.parametrize(("text", "cpus", "dropped"), [
    ("0-3,8", (0, 1, 2, 3), ((8, 8),)), ("6-9,2,4", (2, 4, 6, 7), ((8, 9),)),
    ("", (), ()), ("9", (), ((9, 9),)), ("0-3,2-5", (0, 1, 2, 3, 4, 5), ()),
    ("0-" + "9" * 5000, tuple(range(8)), ((8, 10 ** 18),))])
def test_bounded_cpulist(text: str, cpus: tuple[int, ...], dropped: cpuset.CpuRanges) -> None:
    assert cpuset.bounded_list(text, bound=POSSIBLE_0_7) == cpuset.CpuList(cpus, dropped)


@pytest.mark.parametrize("text", ["3-1", "a-b", "0-", "1,,2", "-1"])
def test_bounded_cpulist_garbage(text: str) -> None:
    assert cpuset.bounded_list(text, bound=POSSIBLE_0_7) is None


def test_the_fixed_cap_is_the_kernels_8192_cpus() -> None:
    got = cpuset.bounded_list("8190-9000", bound=cpuset.CpuBound.fixed())
    assert got == cpuset.CpuList((8190, 8191), ((8192, 9000),))


@settings(max_examples=200, deadline=None)
@given(ranges=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 6)), max_size=6),
       bound=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 6)), min_size=1, max_size=3))
def test_bounded_cpulist_is_the_set_intersection(ranges: list[tuple[int, int]],
                                                 bound: list[tuple[int, int]]) -> None:
    text = ",".join(f"{lo}-{lo + n}" for lo, n in ranges)
    b = cpuset.CpuBound(cpuset.parse_kernel_list(",".join(f"{lo}-{lo + n}" for lo, n in bound)) or (),
                       "test")
    every = {c for lo, n in ranges for c in range(lo, lo + n + 1)}
    allowed = {c for lo, hi in b.ranges for c in range(lo, hi + 1)}
    got = cpuset.bounded_list(text, bound=b)
    assert got is not None
    assert set(got.cpus) == every & allowed and list(got.cpus) == sorted(got.cpus)
    assert {c for lo, hi in got.dropped for c in range(lo, hi + 1)} == every - allowed


# -- CPU set options ---------------------------------------------------------------------------

_RULES = st.one_of(st.integers(0, 99).map(str),
                   st.tuples(st.integers(0, 99), st.integers(-3, 30)).map(lambda t: f"{t[0]}-{t[0] + t[1]}"),
                   st.integers(0, 99).map(lambda n: f"^{n}"),
                   st.sampled_from(["", " 3 ", "x", "^x", "1-", "-1", "5_0", "+7", "^2-4"]))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(rules=st.lists(_RULES, max_size=6))
def test_the_canonical_form_reads_back_to_the_same_cpus(rules: list[str]) -> None:
    """What the config check hands on (the canonical ranges) expands to what the value said."""
    value = ",".join(rules)
    try:
        want = cpuset.parse(value, "opt")
    except cpuset.InvalidCpuSet:
        return
    ranges = cpuset.parse_ranges(value, "opt")
    assert cpuset.parse(cpuset.canonical(ranges), "opt") == want
    assert list(ranges) == sorted(ranges)
    assert all(a[1] + 1 < b[0] for a, b in zip(ranges, ranges[1:]))  # merged: no touching ranges


def test_a_cpu_beyond_the_cap_is_refused_without_expanding() -> None:
    value = ",".join(f"{i * 60000}-{i * 60000 + 60000}" for i in range(4000))
    with pytest.raises(numa.InvalidCpuSet) as exc:
        cpuset.parse_ranges(value, "[compute] cpu_dedicated_set", max_cpus=8192)
    assert exc.value.message == (
        "Invalid [compute] cpu_dedicated_set value '0-60000,60000-120000,120000-180000,180000-24000"
        "0,240000-3000... (76,293 characters)': CPUs 8192-240000000 are beyond the 8,192 CPUs a "
        "kernel can have (NR_CPUS); the value would expand past any host")
    # what an exclusion takes away is not beyond the cap
    assert cpuset.parse_ranges("0-9000,^8192-9000", "opt", max_cpus=8192) == ((0, 8191),)
