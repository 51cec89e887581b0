"""The option names novaconf treats as known equal the options Nova 34 registers in those groups.

A name outside these lists is reported as UnknownOption ("Nova ignores it"), so a list that
lagged behind Nova would flag a real option, and one ahead of it would hide a typo.
"""

from __future__ import annotations

import pytest
from support import require_module

require_module("nova")

from typing import Any  # noqa: E402

from pcipass.adapters import novaconf  # noqa: E402

pytestmark = pytest.mark.nova


@pytest.mark.parametrize("group", sorted(novaconf.GROUP_KEYS))
def test_known_option_names_are_novas(nova_oracle: Any, group: str) -> None:
    registered = nova_oracle.conf._groups[group]._opts
    names = set(registered)
    for info in registered.values():  # deprecated names read in this group are options too
        names |= {d.name for d in info["opt"].deprecated_opts if d.group in (None, group) and d.name}
    assert novaconf.GROUP_KEYS[group] == names
