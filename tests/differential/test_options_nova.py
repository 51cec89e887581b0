"""The option names novaopts lists as known equal the options Nova 34 registers in those groups.

A name outside these lists is reported as UnknownOption ("Nova ignores it"), so a list that
lagged behind Nova would flag a real option, and one ahead of it would hide a typo.
"""

from __future__ import annotations

import pytest
from support import require_module

require_module("nova")

from typing import Any  # noqa: E402

from pcipass.adapters import novaopts  # noqa: E402

pytestmark = pytest.mark.nova


@pytest.mark.parametrize("group", sorted(novaopts.GROUP_KEYS))
def test_known_option_names_are_novas(nova_oracle: Any, group: str) -> None:
    registered = nova_oracle.conf._groups[group]._opts
    names = set(registered)
    for info in registered.values():  # deprecated names read in this group are options too
        names |= {d.name for d in info["opt"].deprecated_opts if d.group in (None, group) and d.name}
    assert novaopts.GROUP_KEYS[group] == names


def test_default_option_names_are_novas(nova_oracle: Any) -> None:
    """``$name`` in a value refers to a [DEFAULT] option of the running nova-compute: Nova's own,
    oslo.config's, and those oslo.log, oslo.messaging and oslo.service register there."""
    from importlib.metadata import entry_points

    names = set(nova_oracle.conf._opts)
    namespaces = ("nova.conf", "oslo.log", "oslo.messaging", "oslo.service.periodic_task",
                  "oslo.service.service")
    for ep in entry_points(group="oslo.config.opts"):
        if ep.name in namespaces:
            for group, opts in ep.load()():
                if (getattr(group, "name", group) or "DEFAULT") == "DEFAULT":
                    names |= {o.dest for o in opts}
    assert novaopts.NOVA_DEFAULT_OPTS == names


def test_the_options_read_have_novas_types_defaults_and_bounds(nova_oracle: Any) -> None:
    """Each option pcipass registers to read nova.conf is registered as Nova registers it:
    same type, default and bounds, so a value means to pcipass what it means to Nova.
    ``[DEFAULT] host`` is the one exception: Nova's default is the machine's hostname, which
    pcipass reads as "not set"; ``pci_passthrough_devices`` (the 2013 design's) is not Nova's
    any more."""
    from oslo_config import cfg

    ours = cfg.ConfigOpts()
    novaopts.register(ours)
    compared = 0
    for group, opts in ours._groups.items():
        for name, info in opts._opts.items():
            mine, theirs = info["opt"], nova_oracle.conf._groups[group]._opts[name]["opt"]
            assert type(mine.type) is type(theirs.type), (group, name)
            assert getattr(mine.type, "min", None) == getattr(theirs.type, "min", None), name
            assert getattr(mine.type, "max", None) == getattr(theirs.type, "max", None), name
            assert mine.default == theirs.default, (group, name)
            compared += 1
    for name, info in ours._opts.items():  # [DEFAULT]
        if name == "pci_passthrough_devices":  # the 2013 design's option: Nova 34 has none
            assert name not in nova_oracle.conf._opts
            continue
        mine, theirs = info["opt"], nova_oracle.conf._opts[name]["opt"]
        assert type(mine.type) is type(theirs.type), name
        if name != "host":
            assert mine.default == theirs.default, name
        compared += 1
    assert compared >= 14  # host_subset_size among them
