"""``pcipass agent --once`` and ``pcipass devices`` on SQLite, PostgreSQL and MariaDB: every rule
of Nova's tracker through the store, idempotence, the NUMA cells, and compare-and-swap (issue 13).
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from storedb import VFS, Store, build_host, ready, server_store, store  # noqa: F401 - fixtures
from support import run_cli, validate_schema

from pcipass.adapters.store import hoststate, models, queries
from pcipass.core import devicestate as ds
from pcipass.core import tracker

INSTANCE = "5bd9a7e4-0d6c-4bd4-9d43-1d6b7c1b0a11"


def _agent(s: Store, root: Path, *extra: str) -> Any:
    return run_cli(["agent", "--once", "--host", str(root), "--db", s.url, *extra])


def _devices(s: Store, *extra: str) -> list[dict[str, Any]]:
    result = run_cli(["devices", "--db", s.url, "-f", "json", *extra])
    assert result.code == 0, result.err
    validate_schema(result.json(), "devices")
    return list(result.json()["devices"])


def _allocate(s: Store, address: str, instance: str = INSTANCE) -> None:
    def rule(state: tracker.TrackerState) -> tracker.TrackerChange:
        tree = ds.claim(state.tree, address, instance).tree
        return tracker.TrackerChange(state.with_tree(ds.allocate(tree, address, instance).tree))

    hoststate.apply(s.engine, "compute-7", rule, command="test allocate")


def _free(s: Store, address: str, instance: str = INSTANCE) -> None:
    hoststate.apply(s.engine, "compute-7", lambda st: tracker.free(st, address, instance),
                    command="test free")


def _audit(s: Store) -> list[tuple[Any, ...]]:
    return [(a.address, a.old_status, a.new_status, a.owner, a.command)
            for a in queries.audit(s.engine, hostname="compute-7")]


def test_new_devices_are_stored_available_with_nova_fields(ready: Store, tmp_path: Path) -> None:
    root = build_host(tmp_path / "h")
    result = _agent(ready, root, "-f", "json")
    assert result.code == 0, result.err
    doc = result.json()
    validate_schema(doc, "agent")
    assert (doc["hostname"], doc["nova_host"], doc["reported"]) == ("compute-7", "c7", 4)
    assert doc["applied"]["inserted"] == 4 and doc["applied"]["host_created"]
    devices = _devices(ready)
    assert [d["address"] for d in devices] == list(VFS)
    first = devices[0]
    assert first["status"] == "available" and first["instance_uuid"] is None
    assert (first["vendor_id"], first["product_id"], first["dev_type"]) == ("8086", "154c",
                                                                           "type-VF")
    assert (first["parent_addr"], first["numa_node"]) == ("0000:81:00.0", 1)
    assert (first["label"], first["dev_id"]) == ("label_8086_154c", "pci_0000_81_02_0")
    assert first["extra_info"]["parent_ifname"] == "enp129s0f0"
    assert '"vf_num": 0' in first["extra_info"]["capabilities"]
    assert first["spec_tags"] == {"physical_network": "physnet2"}
    assert first["generation"] == 1
    stamped = datetime.datetime.fromisoformat(first["created_at"])
    now = datetime.datetime.now(datetime.UTC)
    assert abs((now - stamped).total_seconds()) < 600  # the server's clock, read as UTC
    assert first["updated_at"] == first["created_at"]
    assert _audit(ready) == [(a, None, "available", None, "agent --once") for a in VFS]


def test_host_cells_are_stored_as_schedule_sees_them(ready: Store, tmp_path: Path) -> None:
    from pcipass.services import schedule
    from pcipass.services.scan import scan_hosts

    root = build_host(tmp_path / "h")
    assert _agent(ready, root).code == 0
    (host,) = queries.hosts(ready.engine)
    assert (host.hostname, host.nova_host, host.source) == ("compute-7", "c7", str(root))
    cells = schedule.HostModel.from_scan(scan_hosts([root]).hosts[0]).usable.cells
    stored = {c.cell_id: c for c in host.cells}
    assert [c.id for c in cells] == sorted(stored) == [0, 1]
    for cell in cells:
        mine = stored[cell.id]
        assert (mine.shared_cpus, mine.dedicated_cpus) == (_ranges(cell.cpus), _ranges(cell.pcpus))
        assert (mine.memory_mb, mine.socket) == (cell.memory_mb, cell.socket)
    assert stored[1].dedicated_cpus == "5-7" and stored[1].cpus == "4-7"


def _ranges(cpus: frozenset[int]) -> str:
    from pcipass.core import cpuset

    return cpuset.canonical(cpuset.merge([(c, c) for c in cpus]))


def test_a_second_run_changes_nothing(ready: Store, tmp_path: Path) -> None:
    root = build_host(tmp_path / "h")
    assert _agent(ready, root).code == 0
    before, audit = _devices(ready), _audit(ready)
    (host_before,) = queries.hosts(ready.engine)
    stamp = select(models.Host.generation, models.Host.updated_at)
    with ready.engine.connect() as conn:
        host_row = tuple(conn.execute(stamp).one())
    again = _agent(ready, root, "-f", "json")
    assert again.code == 0
    applied = again.json()["applied"]
    assert (applied["inserted"], applied["updated"], applied["deleted"], applied["changes"]) == \
        (0, 0, 0, [])
    assert _devices(ready) == before and _audit(ready) == audit
    assert queries.hosts(ready.engine) == (host_before,)
    with ready.engine.connect() as conn:
        assert tuple(conn.execute(stamp).one()) == host_row
    assert "store unchanged" in _agent(ready, root).out


def test_a_vanished_free_device_is_removed_then_deleted(ready: Store, tmp_path: Path) -> None:
    assert _agent(ready, build_host(tmp_path / "four")).code == 0
    result = _agent(ready, build_host(tmp_path / "two", vfs=2), "-f", "json")
    assert result.code == 0, result.err
    assert result.json()["applied"]["deleted"] == 2
    assert [d["address"] for d in _devices(ready)] == list(VFS[:2])
    assert _audit(ready)[4:] == [(VFS[2], "available", "removed", None, "agent --once"),
                                 (VFS[2], "removed", "deleted", None, "agent --once"),
                                 (VFS[3], "available", "removed", None, "agent --once"),
                                 (VFS[3], "removed", "deleted", None, "agent --once")]
    back = _agent(ready, build_host(tmp_path / "back"), "-f", "json")
    assert back.json()["applied"]["inserted"] == 2  # it came back: new rows, available


def test_a_vanished_allocated_device_keeps_its_owner_until_freed(ready: Store,
                                                                 tmp_path: Path) -> None:
    assert _agent(ready, build_host(tmp_path / "four")).code == 0
    _allocate(ready, VFS[3])
    assert queries.claims(ready.engine) == (("compute-7", VFS[3], INSTANCE, "allocated"),)
    gone = build_host(tmp_path / "two", vfs=2)
    result = _agent(ready, gone)
    assert result.code == 1, result.err
    assert "Unable to remove device with status 'allocated' and ownership " + INSTANCE in result.err
    kept = {d["address"]: d for d in _devices(ready)}
    assert sorted(kept) == [VFS[0], VFS[1], VFS[3]]  # the free one went, the allocated one stays
    assert (kept[VFS[3]]["status"], kept[VFS[3]]["instance_uuid"]) == ("allocated", INSTANCE)
    again = _agent(ready, gone)  # still gone: still kept, still warned, nothing written
    assert again.code == 1 and "Unable to remove device" in again.err
    assert {d["address"] for d in _devices(ready)} == set(kept)
    _free(ready, VFS[3])
    assert [d["address"] for d in _devices(ready)] == list(VFS[:2])
    assert _audit(ready)[-2:] == [(VFS[3], "allocated", "removed", INSTANCE, "test free"),
                                  (VFS[3], "removed", "deleted", INSTANCE, "test free")]
    assert queries.claims(ready.engine) == ()
    assert _agent(ready, gone).code == 0  # forgotten: nothing to warn about


def test_new_data_of_a_free_device_is_applied_in_place(ready: Store, tmp_path: Path) -> None:
    assert _agent(ready, build_host(tmp_path / "h")).code == 0
    tagged = build_host(tmp_path / "managed", spec='{"vendor_id": "8086", "product_id": "154c", '
                                                   '"physical_network": "physnet2", '
                                                   '"managed": "yes"}')
    result = _agent(ready, tagged, "-f", "json")
    assert result.json()["applied"]["updated"] == 4 and result.json()["applied"]["changes"] == []
    for dev in _devices(ready):
        assert dev["extra_info"]["managed"] == "true"
        assert dev["spec_tags"]["managed"] == "true"
        assert dev["generation"] == 2 and dev["updated_at"] >= dev["created_at"]
    assert _agent(ready, build_host(tmp_path / "plain")).code == 0  # the tag is dropped again
    assert all("managed" not in d["extra_info"] for d in _devices(ready))


def test_new_data_of_a_busy_device_waits_until_it_is_freed(ready: Store, tmp_path: Path) -> None:
    assert _agent(ready, build_host(tmp_path / "h")).code == 0
    _allocate(ready, VFS[0])
    tagged = build_host(tmp_path / "managed", spec='{"vendor_id": "8086", "product_id": "154c", '
                                                   '"managed": "yes"}')
    assert _agent(ready, tagged).code == 0
    devs = {d["address"]: d for d in _devices(ready)}
    assert "managed" not in devs[VFS[0]]["extra_info"]  # kept aside (Nova's stale data)
    assert devs[VFS[1]]["extra_info"]["managed"] == "true"
    assert _agent(ready, tagged).code == 0  # idempotent while it waits
    _free(ready, VFS[0])
    devs = {d["address"]: d for d in _devices(ready)}
    assert devs[VFS[0]]["extra_info"]["managed"] == "true"
    assert devs[VFS[0]]["status"] == "available"


def test_a_pf_of_busy_vfs_follows_nova(ready: Store, tmp_path: Path) -> None:
    root = build_host(tmp_path / "h", spec='[{"vendor_id": "8086", "product_id": "154c"}, '
                                           '{"vendor_id": "8086", "product_id": "1572"}]')
    assert _agent(ready, root).code == 0
    _allocate(ready, VFS[1])
    devs = {d["address"]: d for d in _devices(ready, "--status", "unavailable")}
    assert list(devs) == ["0000:81:00.0"]
    assert devs["0000:81:00.0"]["extra_info"]["mac_address"] == "02:00:00:81:00:00"
    assert [d["address"] for d in _devices(ready, "--status", "allocated")] == [VFS[1]]
    assert _agent(ready, root).code == 0
    _free(ready, VFS[1])
    assert {d["status"] for d in _devices(ready)} == {"available"}


def test_devices_filters_by_hostname_status_and_alias(ready: Store, tmp_path: Path) -> None:
    root = build_host(tmp_path / "h")
    assert _agent(ready, root).code == 0
    _allocate(ready, VFS[0])
    assert _devices(ready, "--hostname", "nowhere") == []
    assert len(_devices(ready, "--hostname", "compute-7")) == 4
    assert [d["address"] for d in _devices(ready, "--status", "allocated")] == [VFS[0]]
    conf = str(root / "etc/nova/nova.conf")
    assert len(_devices(ready, "--alias", "x710-vf", "--nova-conf", conf)) == 4
    missing = run_cli(["devices", "--db", ready.url, "--alias", "gpu", "--nova-conf", conf])
    assert missing.code == 2 and "alias 'gpu' is not defined" in missing.err
    assert run_cli(["devices", "--db", ready.url, "--alias", "x710-vf"]).code == 64
    table = run_cli(["devices", "--db", ready.url])
    assert table.code == 0 and "compute-7" in table.out and INSTANCE in table.out


def test_generation_is_a_compare_and_swap(server_store: Store, tmp_path: Path) -> None:
    """A writer that changed a row between this transaction's read and its write wins; this
    transaction fails whole (SQLite runs one writer at a time, so only the servers can race)."""
    server_store.upgrade()
    assert _agent(server_store, build_host(tmp_path / "h")).code == 0

    def racing(state: tracker.TrackerState) -> tracker.TrackerChange:
        def other() -> None:  # another connection, committed before this one writes
            with server_store.engine.begin() as conn:
                conn.execute(update(models.Device).where(models.Device.address == VFS[0])
                             .values(generation=models.Device.generation + 1))

        worker = threading.Thread(target=other)
        worker.start()
        worker.join(30)
        tree = ds.claim(state.tree, VFS[0], INSTANCE).tree
        return tracker.TrackerChange(state.with_tree(tree))

    with pytest.raises(hoststate.StoreConflict, match="changed in the device store"):
        hoststate.apply(server_store.engine, "compute-7", racing, command="test race")
    with server_store.engine.connect() as conn:
        row = conn.execute(select(models.Device.status, models.Device.generation)
                           .where(models.Device.address == VFS[0])).one()
    assert tuple(row) == ("available", 2)  # the other writer's bump; the claim was not written


def test_two_agents_at_once_apply_the_rules_once(ready: Store, tmp_path: Path) -> None:
    """Two agent processes on one host at the same time: the host row's lock (or SQLite's one
    writer) serializes them, so the second sees the first's result and changes nothing."""
    assert _agent(ready, build_host(tmp_path / "four")).code == 0
    two = build_host(tmp_path / "two", vfs=2)
    args = [sys.executable, "-m", "pcipass", "agent", "--once", "--host", str(two), "--db",
            ready.url, "-f", "json"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    deleted = sorted(json.loads(out)["applied"]["deleted"] for out, _ in outs)
    assert deleted == [0, 2]
    assert [d["address"] for d in _devices(ready)] == list(VFS[:2])
    removals = [a for a in _audit(ready) if a[2] == "removed"]
    assert removals == [(VFS[2], "available", "removed", None, "agent --once"),
                        (VFS[3], "available", "removed", None, "agent --once")]


def test_a_vanished_claimed_device_is_kept_too(ready: Store, tmp_path: Path) -> None:
    assert _agent(ready, build_host(tmp_path / "four")).code == 0
    hoststate.apply(ready.engine, "compute-7",
                    lambda st: tracker.TrackerChange(
                        st.with_tree(ds.claim(st.tree, VFS[3], INSTANCE).tree)),
                    command="test claim")
    assert queries.claims(ready.engine) == (("compute-7", VFS[3], INSTANCE, "claimed"),)
    result = _agent(ready, build_host(tmp_path / "two", vfs=2))
    assert result.code == 1
    assert "Unable to remove device with status 'claimed'" in result.err
    kept = {d["address"]: d for d in _devices(ready)}
    assert (kept[VFS[3]]["status"], kept[VFS[3]]["instance_uuid"]) == ("claimed", INSTANCE)


def test_a_remembered_device_that_came_back_is_still_removed_when_freed(ready: Store,
                                                                        tmp_path: Path) -> None:
    """Nova forgets a remembered address only when it is freed (kept on purpose)."""
    four = build_host(tmp_path / "four")
    assert _agent(ready, four).code == 0
    _allocate(ready, VFS[3])
    assert _agent(ready, build_host(tmp_path / "two", vfs=2)).code == 1
    assert _agent(ready, four).code == 0  # back: VFs 2 new, VF 3 still allocated
    _free(ready, VFS[3])
    assert [d["address"] for d in _devices(ready)] == list(VFS[:3])
    again = _agent(ready, four, "-f", "json")  # reported again: a new row, available
    assert again.json()["applied"]["changes"][0]["address"] == VFS[3]
    assert [d["status"] for d in _devices(ready)] == ["available"] * 4


def test_a_type_change_is_applied_in_place(ready: Store, tmp_path: Path) -> None:
    """SR-IOV switched off in firmware: the PF reports type-PCI, and its VFs are gone."""
    from pcipass import fakehost

    def host(name: str, card: str) -> Path:
        built = fakehost.build(tmp_path / name, f"1x intel-x710 numa=1 {card}; numa-nodes=2; "
                                                "cmdline=intel_iommu=on; hostname=compute-7")
        conf = built.root / "etc/nova/nova.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text('[pci]\ndevice_spec = {"vendor_id": "8086", "product_id": "1572"}\n')
        return Path(built.root)

    assert _agent(ready, host("sriov", "vfs=2")).code == 0
    (pf,) = _devices(ready)
    assert pf["dev_type"] == "type-PF"
    assert _agent(ready, host("plain", "totalvfs=0")).code == 0
    (plain,) = _devices(ready)
    assert (plain["address"], plain["dev_type"], plain["status"]) == (pf["address"], "type-PCI",
                                                                      "available")
    assert plain["generation"] == pf["generation"] + 1


def test_compute_conf_replaces_the_hosts_own_config(ready: Store, tmp_path: Path) -> None:
    root = build_host(tmp_path / "h")
    (root / "etc/nova/nova.conf").unlink()
    refused = _agent(ready, root)
    assert refused.code == 2 and "no compute config" in refused.err
    conf = tmp_path / "compute.conf"
    conf.write_text('[pci]\ndevice_spec = {"vendor_id": "8086", "product_id": "154c"}\n')
    result = _agent(ready, root, "--compute-conf", str(conf), "-f", "json")
    assert result.code == 0, result.err
    assert result.json()["reported"] == 4 and result.json()["nova_host"] is None
