"""Differential: the extra spec keys pcipass knows are Nova 34's own.

``core.extraspecs`` judges typos only in the namespaces whose keys Nova lists by name; the
table must be exactly Nova's registry (``nova.api.validation.extra_specs.validators``) for
those namespaces, templates included, or a new key of Nova's would be called a typo.
"""

from __future__ import annotations

import re

import pytest

from pcipass.core import extraspecs
from support import require_module

validators = require_module("nova.api.validation.extra_specs.validators")

pytestmark = pytest.mark.nova


def novas_keys() -> set[str]:
    return set(validators.VALIDATORS)


def test_the_judged_namespaces_hold_novas_keys_exactly() -> None:
    judged = {k for k in novas_keys() if ":" in k
              and k.split(":", 1)[0] in extraspecs.JUDGED_NAMESPACES}
    fixed = {k for k in judged if "{" not in k}
    assert fixed == set(extraspecs.KNOWN_KEYS)
    assert judged - fixed == set(extraspecs.TEMPLATES)


def test_the_bare_keys_are_novas() -> None:
    assert {k for k in novas_keys() if ":" not in k} == set(extraspecs.BARE_KEYS)


def test_the_free_form_namespaces_are_never_judged() -> None:
    """Every other namespace of Nova's has templated or open keys: no typo can be told."""
    others = {k.split(":", 1)[0] for k in novas_keys() if ":" in k} - set(
        extraspecs.JUDGED_NAMESPACES)
    assert others == {"aggregate_instance_extra_specs", "capabilities", "resources{group}",
                      "trait{group}"}
    for key in ("capabilities:cpu_info:vendor", "aggregate_instance_extra_specs:ssd",
                "resources:VGPU", "resources1:CUSTOM_X", "trait:HW_CPU_X86_AVX2"):
        assert extraspecs.meant(key) is None, key


def test_every_key_of_nova_is_known_and_no_key_is_a_typo_of_another() -> None:
    for key in novas_keys():
        concrete = re.sub(r"\{num\}", "0", key)
        if "{" in concrete:
            continue
        assert extraspecs.meant(concrete) is None, key
