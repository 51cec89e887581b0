"""Nova's CPU set options (``[compute] cpu_dedicated_set``, ``cpu_shared_set``, ``vcpu_pin_set``), bounded.

Each value is read as bounded ranges by :func:`pcipass.core.cpuset.parse_ranges`
(a CPU at or beyond :data:`~pcipass.core.cpuset.MAX_CPUS` is refused before
anything is expanded); a refused value is an error naming the option, its file
and line. What passes is handed on in a canonical form (``"0-3,8"``) that
expands to at most the bound.
"""

from __future__ import annotations

from pcipass.core import config, cpuset, errors

#: (NovaConfig attribute, the option's name in messages)
CPU_OPTIONS = (("cpu_dedicated_set", "[compute] cpu_dedicated_set"),
               ("cpu_shared_set", "[compute] cpu_shared_set"),
               ("vcpu_pin_set", "vcpu_pin_set"))


def bounded_options(nova: config.NovaConfig, *, max_cpus: int = cpuset.MAX_CPUS,
                    ) -> tuple[dict[str, str | None], list[errors.Problem]]:
    """Each CPU option of ``nova`` in canonical form, and a located error per refused value.

    A refused option maps to None.
    """
    values: dict[str, str | None] = {}
    problems: list[errors.Problem] = []
    for attr, option in CPU_OPTIONS:
        value = getattr(nova, attr)
        if not value:
            values[attr] = value
            continue
        try:
            values[attr] = cpuset.canonical(cpuset.parse_ranges(value, option, max_cpus=max_cpus))
        except cpuset.InvalidCpuSet as exc:
            values[attr] = None
            where = nova.located(attr)
            problems.append(exc.to_problem(file=where.file if where else None,
                                           line=where.line if where else None, entry=option))
    return values, problems
