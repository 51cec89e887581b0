"""The doctor's Placement facts: the view read once per run, and each host's translation beside it.

``placement_view`` is read from ``--placement-url`` / ``--os-cloud`` (the API, once per run)
or ``--placement FILE`` (an export); without either, or when it cannot be read, the fact is
missing and the Placement checks are skipped with the reason. ``placement`` is one host's
translation (:func:`pcipass.services.placementview.host_placement`, as ``placement show``
gives it) with that view.
"""

from __future__ import annotations

from pcipass.core import errors, rptree
from pcipass.doctor import model
from pcipass.doctor.placementfacts import PlacementFacts
from pcipass.services import placementconn, placementview, scanreport

NOT_GIVEN = "no --placement-url, --os-cloud or --placement FILE given"


def read_view(*, url: str | None, cloud: str | None, file: str | None, token: str | None,
              timeout: float) -> rptree.PlacementState:
    """The Placement view for the run.

    :raises model.FactMissing: nothing given, or the view cannot be read (the reason says why).
    """
    try:
        if file is not None:
            return placementconn.load_view(file)
        if url is None and cloud is None:
            raise model.FactMissing("placement_view", NOT_GIVEN)
        client = placementconn.connect(placement_url=url, os_cloud=cloud, token=token, timeout=timeout)
        return placementconn.export_view(client)
    except errors.InputError as exc:
        raise model.FactMissing("placement_view", exc.message + (f" ({exc.hint})" if exc.hint else "")) from exc


def host_facts(scan: scanreport.HostScan, state: rptree.PlacementState) -> PlacementFacts:
    """One host's translation and the view."""
    if scan.config is None or scan.compute_starts is None:
        raise model.FactMissing("placement", "no compute config: the translation needs the host's "
                                "device_spec (pass --compute-conf FILE)")
    untyped = [d.address for d in scan.devices if d.dev_type is None]
    if untyped:
        # Absent is not negative: a PF, a VF and a type-PCI device are reported differently, so
        # a translation of devices whose type is unknown would flag providers that are right.
        raise model.FactMissing("placement", f"the type of {len(untyped)} device(s) is unknown "
                                f"({untyped[0]} ...: a paste without lspci -nnvvv), so Nova's "
                                "translation of this host cannot be known")
    hp = placementview.host_placement(scan)
    return PlacementFacts(hp.hypervisor_hostname, hp.report_in_placement, hp.reported,
                          hp.providers, hp.exclusions, hp.refusals, state)
