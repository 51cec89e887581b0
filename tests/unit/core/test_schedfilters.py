"""Scheduler filters and weighers: what stops nova-scheduler at start, and what cannot be verified."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pcipass.core import schedfilters

ALL = [schedfilters.ALL_FILTERS]
WEIGH = [schedfilters.ALL_WEIGHERS]
NOTES = Path(__file__).parents[2] / "fixtures" / "nova-releasenotes"


def codes(enabled: list[str], available: list[str] = ALL, weights: list[str] = WEIGH) -> list[tuple[str, str]]:
    return [(p.code, p.message) for p in schedfilters.problems(enabled, available, weights)]


@pytest.mark.parametrize("name", ["RetryFilter", "RamFilter", "CoreFilter", "DiskFilter",
                                  "AvailabilityZoneFilter", "AggregateCoreFilter", "TrustedFilter"])
def test_a_removed_filter_stops_the_scheduler_with_release_and_replacement(name: str) -> None:
    [p] = schedfilters.problems(["ComputeFilter", name, "PciPassthroughFilter"], ALL, WEIGH)
    gone = schedfilters.REMOVED[name]
    assert p.code == "SchedulerHostFilterNotFound" and p.entry == "[filter_scheduler] enabled_filters"
    assert f"Nova removed it in {gone.version} ({gone.release})" in p.message
    assert p.hint is not None and f"remove {name}" in p.hint and gone.replacement in p.hint


def test_a_removed_filter_fails_even_when_available_filters_loads_other_modules() -> None:
    """A removed filter is Nova's own name: no out-of-tree module is expected to bring it back."""
    [(code, _), _] = codes(["RetryFilter"], [*ALL, "mycorp.sched.filters"])
    assert code == "SchedulerHostFilterNotFound"


def test_an_unknown_name_fails_with_the_default_available_filters() -> None:
    [(code, message)] = codes(["PciPasthroughFilter"])  # one "s": a typo nova-scheduler refuses
    assert code == "SchedulerHostFilterNotFound" and "Nova 34 has no filter of that name" in message


def test_an_unknown_name_with_other_modules_loaded_cannot_be_verified() -> None:
    got = codes(["MyCorpFilter", "ComputeFilter"], [*ALL, "mycorp.sched.filters.all_filters"])
    assert [c for c, _ in got] == ["UnverifiedSchedulerClass", "UnverifiedSchedulerClass"]
    assert "cannot verify filter MyCorpFilter" in got[0][1] and "mycorp.sched.filters.all_filters" in got[0][1]


def test_nova_paths_nova_does_not_have_fail_and_others_warn() -> None:
    got = codes(["ComputeFilter"], ["nova.scheduler.filters.no_such"],
                [*WEIGH, "nova.scheduler.weights.ram.RAMWeigher", "nova.scheduler.weights.gone.Old", "x.y.Z"])
    assert [c for c, _ in got] == ["SchedulerClassNotFound", "SchedulerClassNotFound", "UnverifiedSchedulerClass"]


def test_novas_own_names_and_defaults_pass() -> None:
    assert codes(sorted(schedfilters.NOVA_FILTERS)) == []
    assert codes([], ALL, sorted(schedfilters.NOVA_WEIGHERS)) == []


def test_the_location_is_the_options_line() -> None:
    where = {schedfilters.ENABLED: schedfilters.Where("nova.conf", 7)}
    [p] = schedfilters.problems(["RamFilter"], ALL, WEIGH, where)
    assert (p.file, p.line) == ("nova.conf", 7)


@pytest.mark.parametrize("name", sorted(schedfilters.REMOVED))
def test_removed_release_is_the_release_notes(name: str) -> None:
    """Each removal against Nova's own release note (kept with its origin): the note names the
    filter (or its origin notes the class the removing commit deleted), and the version is the
    first release tag that holds the note."""
    gone = schedfilters.REMOVED[name]
    note = (NOTES / f"{gone.note}.yaml").read_text()
    source = (NOTES / f"{gone.note}.yaml.source.txt").read_text()
    assert name.lower() in note.lower() or f"class {name}" in source
    assert "removed" in note.lower()
    tag = re.search(r"first release tag containing it: (\d+\.\d+\.\d+)", source)
    assert tag is not None and tag.group(1) == gone.version
