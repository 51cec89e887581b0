"""The stored fleet as the scheduler sees it, kept fresh cheaply between claims.

``schedule --db`` runs the scheduling core that ``schedule --host`` runs
(:func:`pcipass.core.schedule.evaluate_host`, then Nova's PCIWeigher with our tie-breaks,
:func:`pcipass.core.schedule.rank_hosts`) on each stored host's free devices, pools and NUMA
cells (:func:`pcipass.core.storedhost.scheduler_view`). Claims whose lease ended count as free
(the transaction that claims releases them first).

:class:`StoreFleet` keeps what it read: on each refresh it reads every host's generation and the
expired claims, and reads anew only the hosts whose generation moved; a host's pools and its
verdict for a request are computed again only when its generation or its expired claims
changed. A client that claims in a loop (the benchmark) re-reads only the hosts other writers
changed.

pcipass claims PCI devices only: the CPUs and memory earlier guests use are not tracked, so
the NUMA fit sees every host's cells empty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pcipass.adapters.store import claimstore, claimtx, records
from pcipass.core import claimrules, cpuset, numa, pools, schedule, storedhost, tracker
from pcipass.core import devicestate as ds
from pcipass.core.schedule.verdicts import MAX_DEVS

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclasses.dataclass(frozen=True, slots=True)
class HostView:
    """One stored host ready for the scheduler: its input, pools, and device generations."""

    stored: claimstore.StoredHost
    expired: tuple[tuple[str, str], ...]
    host: schedule.HostInput
    pools: schedule.HostPools
    book: storedhost.Book | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Question:
    """What a claim asks the scheduler: the requests (flavor's, then ports'), the instance's
    shape, its pinned NUMA nodes, ``pci_weight_multiplier``, and the request's fingerprint
    (the verdict cache's key)."""

    requests: tuple[pools.Request, ...]
    shape: numa.InstanceShape
    pinned: tuple[int, ...] | None
    multiplier: float
    fingerprint: str


def host_cell(c: records.StoredCell) -> numa.HostCell:
    """A stored NUMA cell as the scheduler's (``core.numa.HostCell``)."""
    return numa.HostCell(c.cell_id, cpuset.parse(c.shared_cpus), cpuset.parse(c.dedicated_cpus),
                         c.memory_mb, c.socket)


def view(stored: claimstore.StoredHost,
         expired: Sequence[tuple[str, str]] = ()) -> HostView:
    """A stored host for the scheduler, its expired claims counted free."""
    state = tracker.TrackerState(stored.tree)
    if expired:
        state = claimrules.release_expired(state, expired).state
    built = storedhost.scheduler_book(stored.hostname, state.tree, stored.tags,
                                      [host_cell(c) for c in stored.cells])
    return HostView(stored, tuple(expired), built.host, built.pools, built)


def updated(old: HostView, stored: claimstore.StoredHost) -> HostView | None:
    """``old`` for the host as now ``stored``, kept up to date instead of built again, when
    only claims or allocations changed it (the same pools: ``storedhost.without``); None when
    it must be built again. ``old`` must not be used afterwards."""
    if (old.book is None or old.expired or old.stored.cells != stored.cells
            or old.stored.tags != stored.tags):
        return None
    gone = storedhost.leaving(old.stored.tree, stored.tree)
    if gone is None:
        return None
    built = storedhost.without(old.book, gone)
    return HostView(stored, (), built.host, built.pools, built)


class StoreFleet:
    """The stored hosts, re-read only where they changed (see the module docstring).

    A host's view (pools) and verdicts are built when first asked for, and kept until the
    host changes: :meth:`candidates` evaluates hosts best first, and stops once it has enough.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stored: dict[str, claimstore.StoredHost] = {}
        self._expired: Mapping[str, tuple[tuple[str, str], ...]] = {}
        self._views: dict[str, HostView] = {}
        self._free: dict[str, int] = {}
        self._verdicts: dict[tuple[str, str], schedule.HostVerdict] = {}
        self._parsed: claimstore.Parsed = {}
        self.reads = 0

    def refresh(self) -> None:
        """Read every host's generation and expired claims; re-read the changed hosts."""
        read = claimstore.read_fleet(self.engine, {n: s.generation
                                                   for n, s in self._stored.items()},
                                     self._parsed)
        self.reads += len(read.hosts)
        changed_expiry = {n for n in set(read.expired) | set(self._expired)
                          if read.expired.get(n, ()) != self._expired.get(n, ())}
        self._expired = read.expired
        stale = set(changed_expiry)
        for name in list(self._stored):
            if name not in read.generations:
                del self._stored[name]
                stale.add(name)
        for name in stale:
            self._views.pop(name, None)
        for stored in read.hosts:
            self._replace(stored, keep_view=stored.hostname not in changed_expiry)
        self._forget(stale)

    def committed(self, done: claimtx.Committed) -> None:
        """This client's own claim, applied to what it read instead of reading the host again,
        when nobody else changed the host meanwhile (the host's new generation is the one it
        read plus one; otherwise the next :meth:`refresh` reads the host)."""
        name = done.holding.hostname
        stored = self._stored.get(name)
        if (stored is None or done.host_generation != stored.generation + 1
                or self.expired(name)):
            return
        for address, (dev, gen) in done.written.items():
            self._parsed[(name, address)] = ((stored.ids[address], gen), dev,
                                             stored.tags[address])
        devices = [done.written[a][0] if a in done.written else d
                   for a, d in stored.tree.devices.items()]
        generations = dict(stored.generations)
        generations.update({a: gen for a, (_d, gen) in done.written.items()})
        self._replace(dataclasses.replace(
            stored, generation=done.host_generation,
            tree=ds.DeviceTree(devices, stored.tree.compute_node_id), generations=generations),
            keep_view=True)

    def _replace(self, stored: claimstore.StoredHost, *, keep_view: bool) -> None:
        name = stored.hostname
        self._stored[name] = stored
        old = self._views.pop(name, None)
        if keep_view and old is not None:
            kept = updated(old, stored)
            if kept is not None:
                self._views[name] = kept
        self._forget({name})

    def _forget(self, names: set[str]) -> None:
        for name in names:
            self._free.pop(name, None)
        if names:
            self._verdicts = {k: v for k, v in self._verdicts.items() if k[0] not in names}

    @property
    def names(self) -> list[str]:
        """The stored hosts' names, sorted."""
        return sorted(self._stored)

    def expired(self, name: str) -> tuple[tuple[str, str], ...]:
        """The claims of host ``name`` whose lease had ended at the last refresh."""
        return self._expired.get(name, ())

    def view(self, name: str) -> HostView:
        """Host ``name`` ready for the scheduler (built on first use)."""
        found = self._views.get(name)
        if found is None:
            found = self._views[name] = view(self._stored[name], self.expired(name))
        return found

    def free(self, name: str) -> int:
        """Free devices of host ``name`` (the PCIWeigher's input): its available devices,
        expired claims counted free."""
        count = self._free.get(name)
        if count is None:
            if self.expired(name):
                count = self.view(name).pools.view.free
            else:
                count = sum(1 for d in self._stored[name].tree.devices.values()
                            if d.status == ds.Status.AVAILABLE)
            self._free[name] = count
        return count

    def verdict(self, name: str, question: Question) -> schedule.HostVerdict:
        """One host's verdict (cached until the host changes)."""
        key = (name, question.fingerprint)
        found = self._verdicts.get(key)
        if found is None:
            v = self.view(name)
            found = schedule.evaluate_host(
                v.host.devices, v.host.specs, question.requests, v.host.cells, question.shape,
                name=name, instance_numa_nodes=question.pinned, prebuilt=v.pools)
            self._verdicts[key] = found
        return found

    def ranking(self, question: Question) -> schedule.Ranking:
        """Every stored host's verdict, ranked as ``schedule --host`` ranks them."""
        verdicts = [self.verdict(name, question) for name in self.names]
        return schedule.rank_hosts(verdicts, question.multiplier)

    def candidates(self, question: Question, most: int) -> list[schedule.HostVerdict]:
        """The first ``most`` fitting hosts in :meth:`ranking`'s order, evaluating hosts best
        first and stopping there.

        Nova's PCIWeigher normalizes ``multiplier * raw weight`` over the fitting hosts, which
        keeps their order, and the raw weight is a host's free devices
        (``100 - min(free, 99)``): hosts are taken in groups of equal raw weight, best first,
        each group sorted as the ranking breaks ties (one NUMA node, then the name), until
        ``most`` fit (``tests/functional/test_claims.py`` checks the order).
        """
        m = question.multiplier
        groups: dict[float, list[str]] = {}
        for name in self.names:
            raw = MAX_DEVS - min(self.free(name), MAX_DEVS - 1)
            groups.setdefault(-(m * raw), []).append(name)
        out: list[schedule.HostVerdict] = []
        for key in sorted(groups):
            fitting = [v for v in (self.verdict(n, question) for n in groups[key]) if v.fits]
            fitting.sort(key=lambda v: (not v.one_numa_node, v.name))
            out.extend(fitting)
            if len(out) >= most:
                break
        return out[:most]

    def host_row(self, name: str) -> tuple[int, str | None]:
        """Host ``name``'s row id and Nova host name, as last read."""
        stored = self._stored[name]
        return stored.host_id, stored.nova_host

    def family(self, name: str, addresses: Sequence[str]) -> list[claimtx.FamilyRow]:
        """The rows the claim of these devices of host ``name`` reads, as last read: the
        devices, their parents, and the children of both (:func:`claimtx.claim`'s family)."""
        stored = self._stored[name]
        tree = stored.tree
        wanted = set(addresses)
        wanted |= {p for a in addresses if (p := tree[a].parent_addr) is not None
                   and p in tree.devices}
        wanted |= {c.address for a in list(wanted) for c in tree.children(a)}
        return [claimtx.FamilyRow(stored.ids[a], stored.generations[a], tree[a], stored.tags[a])
                for a in sorted(wanted)]

    def generations(self, name: str, addresses: Sequence[str]) -> dict[str, int]:
        """The generations the last refresh read for these devices of host ``name``."""
        gens = self._stored[name].generations
        return {a: gens[a] for a in addresses}

