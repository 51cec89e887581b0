"""The stored fleet as the scheduler sees it, kept fresh cheaply between claims.

``schedule --db`` runs the scheduling core that ``schedule --host`` runs
(:func:`pcipass.core.schedule.evaluate_host`, then Nova's PCIWeigher with our tie-breaks,
:func:`pcipass.core.schedule.rank_hosts`) on each stored host's free devices, pools and NUMA
cells (:func:`pcipass.core.storedhost.scheduler_view`). Claims whose lease ended count as free
(the transaction that claims releases them first).

:class:`StoreFleet` keeps what it read: on each refresh it reads every host's generation and the
expired claims, and marks the hosts whose generation moved as stale; a stale host is read
again when a claim picks it (:meth:`StoreFleet.fresh`) or when every host is ranked. A host's
pools are kept up to date when only claims changed it (:func:`updated`), and its verdict for
a request is computed again only when it changed. A client that claims in a loop (the
benchmark) reads the hosts it claims on, and applies its own claims to what it read
(:meth:`StoreFleet.committed`).

pcipass claims PCI devices only: the CPUs and memory earlier guests use are not tracked, so
the NUMA fit sees every host's cells empty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pcipass.adapters.store import claimtx, fleetread, records
from pcipass.core import claimrules, cpuset, numa, pools, schedule, storedhost, tracker
from pcipass.core import devicestate as ds
from pcipass.core.schedule.verdicts import MAX_DEVS

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclasses.dataclass(frozen=True, slots=True)
class HostView:
    """One stored host ready for the scheduler: its input, pools, and device generations."""

    stored: fleetread.StoredHost
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


def view(stored: fleetread.StoredHost,
         expired: Sequence[tuple[str, str]] = ()) -> HostView:
    """A stored host for the scheduler, its expired claims counted free."""
    state = tracker.TrackerState(stored.tree)
    if expired:
        state = claimrules.release_expired(state, expired).state
    built = storedhost.scheduler_book(stored.hostname, state.tree, stored.tags,
                                      [host_cell(c) for c in stored.cells])
    return HostView(stored, tuple(expired), built.host, built.pools, built)


def updated(old: HostView, stored: fleetread.StoredHost) -> HostView | None:
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
        self._stored: dict[str, fleetread.StoredHost] = {}
        self._expired: Mapping[str, tuple[tuple[str, str], ...]] = {}
        self._views: dict[str, HostView] = {}
        self._free: dict[str, int] = {}
        self._verdicts: dict[str, dict[str, schedule.HostVerdict]] = {}
        self._parsed: fleetread.Parsed = {}
        #: Hosts whose generation moved since their rows were read: name -> what to read.
        self._stale: dict[str, tuple[int, str | None, int]] = {}
        self.reads = 0

    def refresh(self, bind: fleetread.Bind | None = None) -> None:
        """Read every host's generation and expired claims, and the hosts never read; mark
        the hosts whose generation moved as stale (:meth:`fresh` reads one, :meth:`ranking`
        all of them).

        :param bind: a connection to read on (the caller's); None: the fleet's engine.
        """
        read = fleetread.read_fleet(bind or self.engine, {n: s.generation
                                                   for n, s in self._stored.items()},
                                     self._parsed, changed=False)
        self.reads += len(read.hosts)
        changed_expiry = {n for n in set(read.expired) | set(self._expired)
                          if read.expired.get(n, ()) != self._expired.get(n, ())}
        self._expired = read.expired
        gone = {n for n in self._stored if n not in read.generations}
        for name in gone:
            del self._stored[name]
        for name in gone | changed_expiry:
            self._views.pop(name, None)
        for stored in read.hosts:
            self._replace(stored, keep_view=stored.hostname not in changed_expiry)
        self._forget(gone | changed_expiry)
        self._stale = {n: row for n, row in read.rows.items()
                       if n in self._stored and self._stored[n].generation != row[2]}

    def fresh(self, name: str, bind: fleetread.Bind | None = None) -> bool:
        """Read host ``name`` again if its generation moved at the last :meth:`refresh`;
        whether it did."""
        row = self._stale.pop(name, None)
        if row is None:
            return False
        for stored in fleetread.read_hosts(bind or self.engine, {name: row}, self._parsed):
            self.reads += 1
            self._replace(stored, keep_view=True)
        return True

    def is_stale(self, name: str) -> bool:
        """Host ``name``'s generation moved since its rows were read (another writer)."""
        return name in self._stale

    def fresh_all(self, bind: fleetread.Bind | None = None) -> None:
        """Read every stale host again (one query for all)."""
        if self._stale:
            stale, self._stale = self._stale, {}
            for stored in fleetread.read_hosts(bind or self.engine, stale, self._parsed):
                self.reads += 1
                self._replace(stored, keep_view=True)

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

    def _replace(self, stored: fleetread.StoredHost, *, keep_view: bool) -> None:
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
            self._verdicts.pop(name, None)

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
        known = self._verdicts.setdefault(name, {})
        found = known.get(question.fingerprint)
        if found is None:
            v = self.view(name)
            found = known[question.fingerprint] = schedule.evaluate_host(
                v.host.devices, v.host.specs, question.requests, v.host.cells, question.shape,
                name=name, instance_numa_nodes=question.pinned, prebuilt=v.pools)
        return found

    def ranking(self, question: Question) -> schedule.Ranking:
        """Every stored host's verdict, ranked as ``schedule --host`` ranks them (the stale
        hosts read again first)."""
        self.fresh_all()
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

        Hosts are taken as last read: a stale host (:meth:`refresh`) is ranked on its last
        rows, as Nova's scheduler ranks on the pools a compute last reported; the claim reads
        the host it picks again before it decides (:meth:`fresh`). So a client claiming in a
        loop reads the host it claims on, not every host another client changed.
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

