"""What a consumer's claim, allocation, free and release do to a host's tracked state, pure.

A consumer (an instance UUID) holds devices of one host. Each function takes the host's
:class:`~pcipass.core.tracker.TrackerState` and returns a
:class:`~pcipass.core.tracker.TrackerChange`, applying exactly the state machine's transitions
(:mod:`pcipass.core.devicestate`, Nova's ``PciDevice``) and the tracker's free
(:func:`pcipass.core.tracker.free_instance`), so the PF/VF rules hold after any of them:

* :func:`claim`: ``available`` -> ``claimed`` for the devices the scheduler picked, each with
  the id of the request it serves;
* :func:`allocate`: the consumer's ``claimed`` devices -> ``allocated`` (repeating it changes
  nothing);
* :func:`free`: Nova's ``free_instance``: every device the consumer holds, claimed or
  allocated;
* :func:`release`: drops a claim never allocated, and refuses an allocated consumer;
* :func:`release_expired`: the claims whose lease ended, freed as Nova frees them.

:func:`fingerprint` names a request so that a repeated claim of one consumer can be told from
a different one. Pure: no IO, no clock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pcipass.core import devicestate as ds
from pcipass.core import errors, tracker

_BUSY = (ds.Status.CLAIMED, ds.Status.ALLOCATED)


class ConsumerConflict(errors.InputError):
    """The consumer already holds devices for another request."""

    msg_fmt = ("consumer %(consumer)s already holds devices on %(hostname)s for another "
               "request; the same consumer with a different request is a conflict")


class ClaimNotFound(errors.InputError):
    """The consumer holds nothing to allocate."""

    msg_fmt = ("consumer %(consumer)s holds no claim (never claimed, freed, released, or its "
               "lease expired)")


class ClaimAllocated(errors.InputError):
    """``release`` of a consumer whose devices are allocated."""

    msg_fmt = ("consumer %(consumer)s holds allocated devices (%(addresses)s): release drops "
               "only a claim never allocated")


class DevicesTaken(errors.InputError):
    """The devices the scheduler picked changed before the claim committed."""

    msg_fmt = "host %(hostname)s: %(addresses)s taken by another writer meanwhile"


@dataclasses.dataclass(frozen=True, slots=True)
class Pick:
    """A device the scheduler picked, and the id of the request it serves."""

    address: str
    request_id: str | None = None


def held(state: tracker.TrackerState, consumer: str) -> tuple[ds.TrackedDevice, ...]:
    """The devices ``consumer`` holds, claimed or allocated, by address."""
    return tuple(d for _, d in sorted(state.tree.devices.items())
                 if d.owner == consumer and d.status in _BUSY)


def claim(state: tracker.TrackerState, picks: Sequence[Pick],
          consumer: str) -> tracker.TrackerChange:
    """Claim each picked device for ``consumer`` (Nova's ``PciDevice.claim``), in order.

    :raises: the state machine's errors when a device is not claimable any more.
    """
    tree = state.tree
    warnings: list[str] = []
    for pick in picks:
        change = ds.claim(tree, pick.address, consumer)
        tree = change.tree
        warnings += change.warnings
        if pick.request_id is not None:
            tree = tree.replaced([dataclasses.replace(tree[pick.address],
                                                      request_id=pick.request_id)])
    return tracker.TrackerChange(state.with_tree(tree), warnings=tuple(warnings))


def allocate(state: tracker.TrackerState, consumer: str) -> tracker.TrackerChange:
    """The consumer's claimed devices -> allocated (Nova's ``PciDevice.allocate``).

    :raises ClaimNotFound: the consumer holds nothing.
    """
    mine = held(state, consumer)
    if not mine:
        raise ClaimNotFound(consumer=consumer, hint="claim devices for it first")
    tree = state.tree
    for dev in mine:
        if dev.status == ds.Status.CLAIMED:
            tree = ds.allocate(tree, dev.address, consumer).tree
    return tracker.TrackerChange(state.with_tree(tree))


def free(state: tracker.TrackerState, consumer: str) -> tracker.TrackerChange:
    """Nova's ``free_instance``: every device the consumer holds."""
    return tracker.free_instance(state, consumer)


def release(state: tracker.TrackerState, consumer: str) -> tracker.TrackerChange:
    """Drop the consumer's claim.

    :raises ClaimAllocated: some of its devices are allocated (free them instead).
    """
    allocated = [d.address for d in held(state, consumer) if d.status == ds.Status.ALLOCATED]
    if allocated:
        raise ClaimAllocated(consumer=consumer, addresses=", ".join(allocated),
                             hint="free an allocation: pcipass claim free CONSUMER")
    return tracker.free_instance(state, consumer, ds.Status.CLAIMED)


def release_expired(state: tracker.TrackerState,
                    expired: Iterable[tuple[str, str]]) -> tracker.TrackerChange:
    """Free each ``(address, owner)`` whose lease ended, when the owner still claims it."""
    events: list[tracker.PoolEvent] = []
    warnings: list[str] = []
    for address, owner in sorted(expired):
        dev = state.tree.devices.get(address)
        if dev is None or dev.status != ds.Status.CLAIMED or dev.owner != owner:
            continue
        change = tracker.free(state, address, owner)
        state = change.state
        events += change.events
        warnings += change.warnings
    return tracker.TrackerChange(state, tuple(events), tuple(warnings))


def fingerprint(request: Mapping[str, Any]) -> str:
    """The request's name: SHA-256 of its canonical JSON (keys sorted, no spaces)."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
