"""The scheduler filter and weigher names pcipass knows equal what the nova 34.0.0 package registers.

pcipass fails a config naming a filter outside :data:`schedfilters.NOVA_FILTERS` (while
available_filters is Nova's default): a list that lagged behind Nova would fail a good
config, one ahead of it would pass a config nova-scheduler refuses at start.
"""

from __future__ import annotations

import pytest
from support import require_module

require_module("nova")

from pcipass.core import config, schedfilters  # noqa: E402

pytestmark = pytest.mark.nova


def _handler_names(option: str) -> set[str]:
    """What nova-scheduler's host manager loads from the option's default, as it loads it."""
    from nova.scheduler import filters, weights

    if option == "available_filters":
        classes = filters.HostFilterHandler().get_matching_classes([config.DEFAULT_AVAILABLE_FILTERS])
        return {c.__name__ for c in classes}
    classes = weights.HostWeightHandler().get_matching_classes([config.DEFAULT_WEIGHT_CLASSES])
    return {f"{c.__module__}.{c.__name__}" for c in classes}


def test_known_filters_are_the_ones_nova_registers() -> None:
    assert schedfilters.NOVA_FILTERS == _handler_names("available_filters")


def test_known_weighers_are_the_ones_nova_registers() -> None:
    assert schedfilters.NOVA_WEIGHERS == _handler_names("weight_classes")


def test_removed_filters_are_gone_from_nova() -> None:
    """Each removed filter is absent, so nova's host manager refuses it (SchedulerHostFilterNotFound)."""
    assert not set(schedfilters.REMOVED) & _handler_names("available_filters")


def test_defaults_are_novas() -> None:
    from nova.conf import scheduler

    opts = {o.name: o for o in scheduler.filter_scheduler_opts}
    assert opts["available_filters"].default == [config.DEFAULT_AVAILABLE_FILTERS]
    assert opts["weight_classes"].default == [config.DEFAULT_WEIGHT_CLASSES]


def test_an_unknown_filter_stops_novas_host_manager_as_pcipass_says() -> None:
    """Nova's own lookup (HostManager._choose_host_filters) on a removed filter's name."""
    from nova import exception
    from nova.scheduler import host_manager

    manager = host_manager.HostManager.__new__(host_manager.HostManager)
    manager.filter_cls_map = {n: object for n in _handler_names("available_filters")}
    manager.filter_obj_map = {}
    with pytest.raises(exception.SchedulerHostFilterNotFound, match="RetryFilter"):
        manager._choose_host_filters(["ComputeFilter", "RetryFilter"])
    [p] = schedfilters.problems(["ComputeFilter", "RetryFilter"], [config.DEFAULT_AVAILABLE_FILTERS], [])
    assert p.code == "SchedulerHostFilterNotFound" and "RetryFilter" in p.message
