"""Fake hosts for tests and demos: host roots in the kernel's real sysfs layout.

This package writes files, so it is test support at adapter level, never
used by the core. See ``docs/fakehost.md`` for the profile language.

    >>> from pcipass import fakehost
    >>> built = fakehost.build(tmpdir, "2x intel-x710 pf numa=1 vfs=8; cmdline=intel_iommu=on")
"""

from __future__ import annotations

from pcipass.fakehost.builder import BuiltHost, build, pack
from pcipass.fakehost.plan import FakeDevice, plan
from pcipass.fakehost.profile import (
    MODELS,
    PROFILES,
    CardSpec,
    FakeHostProfileInvalid,
    HostProfile,
    Model,
    parse_profile,
)

__all__ = [
    "MODELS", "PROFILES", "BuiltHost", "CardSpec", "FakeDevice", "FakeHostProfileInvalid",
    "HostProfile", "Model", "build", "pack", "parse_profile", "plan",
]
