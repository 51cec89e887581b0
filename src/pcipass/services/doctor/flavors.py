"""Flavor facts: the ``--flavor`` and ``--image`` files as requests, and their fit on a host.

A flavor Nova would refuse (a file that does not parse, a bad image, an alias
table Nova rejects, a request that does not translate) becomes a
:class:`model.FlavorFacts` carrying that problem, so the checks report it once.
"""

from __future__ import annotations

from collections.abc import Sequence

from pcipass.adapters import flavorfile
from pcipass.core import alias as alias_mod
from pcipass.core import errors, requests, schedule
from pcipass.doctor import model
from pcipass.services import schedule as schedule_svc


def read_flavors(paths: Sequence[str], image: str | None,
                 controller: model.ControllerFacts | None) -> tuple[model.FlavorFacts, ...]:
    """Every flavor file as requests against the controller's aliases (and the image's properties)."""
    image_props, image_problem = read_image(image)
    return tuple(read_flavor(path, controller, image_props, image_problem) for path in paths)


def read_image(path: str | None) -> tuple[dict[str, str] | None, errors.Problem | None]:
    """The image's properties and its first problem; ``(None, None)`` without ``--image``."""
    if path is None:
        return None, None
    img = flavorfile.read_image(path)
    return dict(img.properties), (img.problems[0] if img.problems else None)


def read_flavor(path: str, controller: model.ControllerFacts | None,
                image_props: dict[str, str] | None,
                image_problem: errors.Problem | None) -> model.FlavorFacts:
    """One flavor as the doctor's record: its requests, or the problem that refuses it."""
    fl = flavorfile.read_flavor(path)
    aliases = controller.aliases if controller is not None else alias_mod.AliasParseResult({}, [], [])
    known = controller is not None

    def refused(problem: errors.Problem) -> model.FlavorFacts:
        return model.FlavorFacts(fl.name, fl.file, dict(fl.extra_specs), (), None, None, None,
                                 problem, (), known, vcpus=fl.vcpus, ram=fl.ram)
    if fl.problems:
        return refused(fl.problems[0])
    if image_problem is not None:
        return refused(image_problem)
    if fl.extra_specs.get(requests.ALIAS_KEY) and not aliases.valid and aliases.nova_error is not None:
        return refused(aliases.nova_error)  # Nova refuses every PCI flavor while the table is bad
    try:
        fr = requests.translate_flavor(fl.extra_specs, aliases.aliases, image_props)
    except errors.PcipassError as exc:
        return refused(exc.to_problem(file=fl.file, entry=f"flavor {fl.name!r}"))
    return model.FlavorFacts(fl.name, fl.file, dict(fl.extra_specs), tuple(fr.requests), fr.numa_nodes,
                             fr.numa_policy, fr.cpu_policy, None,
                             tuple(w.located(file=fl.file) for w in fr.warnings), known,
                             vcpus=fl.vcpus, ram=fl.ram)


def flavor_fit(hm: schedule_svc.HostModel, fl: model.FlavorFacts) -> model.FlavorFit:
    """The scheduling core's verdict for ``fl`` on ``hm`` (all matched devices free)."""
    reqs = tuple(schedule.build_requests(fl.requests))
    shape = schedule_svc.instance_shape(fl.vcpus, fl.ram, fl.numa_nodes, fl.cpu_policy)
    try:
        verdict = schedule_svc.evaluate(hm, reqs, shape)
    except errors.PcipassError as exc:
        return model.FlavorFit(fl.name, reqs, shape, None, exc.to_problem(file=fl.file, entry=f"flavor {fl.name!r}"))
    return model.FlavorFit(fl.name, reqs, shape, verdict)
