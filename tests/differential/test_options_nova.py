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
