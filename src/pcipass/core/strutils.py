"""oslo.utils' ``bool_from_string``, so that the core reads booleans as Nova does without oslo.

Nova reads the bool tags of a device_spec, an alias's ``live_migratable`` and
a port's ``trusted`` through ``oslo_utils.strutils.bool_from_string``: lenient
(only the true spellings are True) or strict (anything else is an error).
"""

from __future__ import annotations

from typing import Any

TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")
FALSE_STRINGS = ("0", "f", "false", "off", "n", "no")
_ACCEPTABLE = ", ".join(f"'{s}'" for s in sorted(TRUE_STRINGS + FALSE_STRINGS))


def lenient_bool(value: Any) -> bool:
    """oslo ``bool_from_string(value)`` (non-strict): only the true spellings are True."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_STRINGS


def strict_bool(value: Any) -> bool:
    """oslo ``bool_from_string(value, strict=True)``.

    :raises ValueError: with oslo's "Unrecognized value ..." text.
    """
    if isinstance(value, bool):
        return value
    text = str(value)
    lowered = text.strip().lower()
    if lowered in TRUE_STRINGS:
        return True
    if lowered in FALSE_STRINGS:
        return False
    raise ValueError(f"Unrecognized value '{text}', acceptable values are: {_ACCEPTABLE}")
