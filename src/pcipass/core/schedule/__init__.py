"""Nova's PCI scheduling, played over host facts (nova-pci.md §4, §7, §9.8).

One job per module, in the order a question flows through them:

* :mod:`.ports`: Neutron SR-IOV ports as PCI requests (flavor requests come from
  :mod:`pcipass.core.requests`);
* :mod:`.hostfit`: would the instance land on this host? Nova's scheduler
  filters, then the compute claim;
* :mod:`.reasons`: why not, as sentences with the layer, the devices dropped
  and the evidence;
* :mod:`.ranking`: which fitting host Nova picks (the PCIWeigher, then our
  tie-breaks);
* :mod:`.fleetindex`: which of many hosts fit, without evaluating each host;
  what ``pcipass schedule`` runs;
* :mod:`.verdicts`: the records all of them share (the contract's host entries).

The names below are the package's surface; callers use them as
``schedule.evaluate_host(...)``.
"""

from __future__ import annotations

from pcipass.core.schedule.fleetindex import FleetAnswer as FleetAnswer
from pcipass.core.schedule.fleetindex import FleetIndex as FleetIndex
from pcipass.core.schedule.hostfit import HostPools as HostPools
from pcipass.core.schedule.hostfit import claim_host as claim_host
from pcipass.core.schedule.hostfit import evaluate_host as evaluate_host
from pcipass.core.schedule.hostfit import host_pools as host_pools
from pcipass.core.schedule.ports import InvalidPortRequest as InvalidPortRequest
from pcipass.core.schedule.ports import build_requests as build_requests
from pcipass.core.schedule.ports import parse_port as parse_port
from pcipass.core.schedule.ranking import Ranking as Ranking
from pcipass.core.schedule.ranking import normalize as normalize
from pcipass.core.schedule.ranking import rank_hosts as rank_hosts
from pcipass.core.schedule.verdicts import ChosenDevice as ChosenDevice
from pcipass.core.schedule.verdicts import Evidence as Evidence
from pcipass.core.schedule.verdicts import HostInput as HostInput
from pcipass.core.schedule.verdicts import HostVerdict as HostVerdict
from pcipass.core.schedule.verdicts import PinnedNodesUnknown as PinnedNodesUnknown
from pcipass.core.schedule.verdicts import Reason as Reason
