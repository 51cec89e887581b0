"""`pcipass schedule` on fake host roots: Nova's decisions, our reasons, the contract's JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pcipass import fakehost
from support import validate_schema

SPEC = '{"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet2"}'
ALIAS = ('{"name": "intel-vf", "vendor_id": "8086", "product_id": "154c", '
         '"device_type": "type-VF", "numa_policy": "%s"}')


def make_host(root: Path, name: str, profile: str, device_spec: str | None = SPEC) -> str:
    built = fakehost.build(root / name, f"{profile}; hostname={name}; cmdline=intel_iommu=on")
    if device_spec is not None:
        (built.root / "etc/nova").mkdir(parents=True, exist_ok=True)
        (built.root / "etc/nova/nova.conf").write_text(
            f"[DEFAULT]\nhost = {name}\n[pci]\ndevice_spec = {device_spec}\n")
    return str(built.root)


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("fleet")
    hosts = {
        # VFs on NUMA node 1 only
        "cmp-a": make_host(d, "cmp-a", "2x intel-x710 numa=1 vfs=4 vf-driver=iavf; numa-nodes=2"),
        # VFs on NUMA node 0
        "cmp-b": make_host(d, "cmp-b", "2x intel-x710 numa=0 vfs=4 vf-driver=iavf; numa-nodes=2"),
        # 82599 VFs (10ed), and a device_spec that asks for 154c: matches nothing
        "cmp-c": make_host(d, "cmp-c", "1x intel-82599 numa=0 vfs=4 vf-driver=ixgbevf; numa-nodes=2"),
    }
    files = {
        "required": write(d / "ctl-required.conf", "[pci]\nalias = %s\n[filter_scheduler]\n"
                          "enabled_filters = ComputeFilter,PciPassthroughFilter,NUMATopologyFilter\n"
                          % (ALIAS % "required")),
        "preferred": write(d / "ctl-preferred.conf", "[pci]\nalias = %s\n" % (ALIAS % "preferred")),
        "nofilter": write(d / "ctl-nofilter.conf", "[pci]\nalias = %s\n[filter_scheduler]\n"
                          "enabled_filters = ComputeFilter\n" % (ALIAS % "required")),
        "flavor": write(d / "flavor.json", json.dumps({
            "name": "nfv.medium", "vcpus": 2, "ram": 2048, "disk": 20, "properties": {
                "hw:numa_nodes": "1", "pci_passthrough:alias": "intel-vf:2"}})),
        "typo": write(d / "typo.json", json.dumps({
            "name": "nfv.typo", "vcpus": 2, "ram": 2048, "disk": 20,
            "properties": {"pci_passthrough:alias": "intel_vf:2"}})),
        "plain": write(d / "plain.json", json.dumps({"name": "m1.small", "vcpus": 1, "ram": 512,
                                                     "disk": 1, "properties": {}})),
    }
    return {"hosts": hosts, "files": files, "dir": d}


def run(cli: Any, fleet: dict[str, Any], *extra: str, conf: str = "required",
        flavors: tuple[str, ...] = ("flavor",), hosts: tuple[str, ...] = ("cmp-a", "cmp-b", "cmp-c"),
        ) -> tuple[int, dict[str, Any]]:
    args = ["schedule", "--nova-conf", fleet["files"][conf]]
    for f in flavors:
        args += ["--flavor", fleet["files"][f]]
    for h in hosts:
        args += ["--host", fleet["hosts"][h]]
    r = cli([*args, *extra, "-f", "json"])
    doc = r.json()
    validate_schema(doc, "schedule")
    return r.code, doc


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["name"]: h for h in result["hosts"]}


def test_required_policy_pinned_to_node_0(cli: Any, fleet: dict[str, Any]) -> None:
    code, doc = run(cli, fleet, "--instance-numa-nodes", "0")
    assert code == 0
    (res,) = doc["results"]
    assert res["requests"] == [{"alias_name": "intel-vf", "count": 2, "numa_policy": "required",
                                "specs": [{"vendor_id": "8086", "product_id": "154c",
                                           "dev_type": "type-VF"}]}]
    hosts = by_name(res)
    assert res["chosen_host"] == "cmp-b"
    assert hosts["cmp-b"]["fits"] and hosts["cmp-b"]["instance_numa_nodes"] == [0]
    assert len(hosts["cmp-b"]["devices"]) == 2
    assert all(d["numa_node"] == 0 and d["alias_name"] == "intel-vf" and d["dev_type"] == "type-VF"
               for d in hosts["cmp-b"]["devices"])
    # cmp-a: its 8 VFs sit on node 1, the instance on node 0, policy required
    a = hosts["cmp-a"]
    assert not a["fits"]
    numa_reasons = [r for r in a["reasons"] if r["layer"] == "numa" and r["dropped"]]
    assert sum(r["dropped"] for r in numa_reasons) == 8
    assert all("policy is required" in r["message"] and "NUMA node 1" in r["message"]
               for r in numa_reasons)
    # cmp-c: the spec wants 154c but the host has 82599 VFs (10ed)
    c = hosts["cmp-c"]
    assert not c["fits"]
    text = " ".join(r["message"] for r in c["reasons"])
    assert "8086:154c" in text and "10ed" in text


def test_unpinned_instance_fits_on_the_node_with_the_vfs(cli: Any, fleet: dict[str, Any]) -> None:
    code, doc = run(cli, fleet)
    hosts = by_name(doc["results"][0])
    assert hosts["cmp-a"]["fits"] and hosts["cmp-a"]["instance_numa_nodes"] == [1]
    assert hosts["cmp-b"]["fits"] and hosts["cmp-b"]["instance_numa_nodes"] == [0]
    assert not hosts["cmp-c"]["fits"]
    # Equal PCIWeigher weights: ties are broken by one-NUMA-node fit, then the host name.
    assert doc["results"][0]["chosen_host"] == "cmp-a"
    assert [h["name"] for h in doc["results"][0]["hosts"]] == ["cmp-a", "cmp-b", "cmp-c"]


def test_preferred_policy_takes_remote_vfs(cli: Any, fleet: dict[str, Any]) -> None:
    code, doc = run(cli, fleet, "--instance-numa-nodes", "0", conf="preferred",
                    hosts=("cmp-a",))
    a = by_name(doc["results"][0])["cmp-a"]
    assert a["fits"] and {d["numa_node"] for d in a["devices"]} == {1}


def test_undefined_alias_is_refused_with_the_closest_name(cli: Any, fleet: dict[str, Any]) -> None:
    code, doc = run(cli, fleet, flavors=("typo", "plain"))
    assert code == 2
    typo, plain = doc["results"]
    assert typo["error"]["code"] == "PciRequestAliasNotDefined"
    assert "intel-vf" in typo["error"]["hint"]
    assert typo["chosen_host"] is None and typo["hosts"] == []
    # a flavor without PCI fits everywhere
    assert plain["error"] is None and all(h["fits"] for h in plain["hosts"])


def test_missing_pci_filter_is_a_warning(cli: Any, fleet: dict[str, Any]) -> None:
    code, doc = run(cli, fleet, conf="nofilter", hosts=("cmp-b",))
    codes = [w["code"] for w in doc["results"][0]["warnings"]]
    assert "PciFilterDisabled" in codes and "NumaFilterDisabled" in codes


def test_port_requests(cli: Any, fleet: dict[str, Any]) -> None:
    code, doc = run(cli, fleet, "--port", "vnic_type=direct,physnet=physnet2", flavors=("plain",),
                    hosts=("cmp-b", "cmp-c"))
    res = doc["results"][0]
    assert res["requests"][0]["alias_name"] is None
    assert res["requests"][0]["specs"][0]["physical_network"] == "physnet2"
    hosts = by_name(res)
    assert hosts["cmp-b"]["fits"] and hosts["cmp-b"]["devices"][0]["alias_name"] is None
    assert not hosts["cmp-c"]["fits"]


def test_instance_numa_nodes_contradicting_flavor(cli: Any, fleet: dict[str, Any]) -> None:
    code, doc = run(cli, fleet, "--instance-numa-nodes", "0,1")
    assert code == 2
    assert doc["results"][0]["error"]["code"] == "InstanceNumaNodesMismatch"


def test_table_view_explains_rejections(cli: Any, fleet: dict[str, Any]) -> None:
    args = ["schedule", "--nova-conf", fleet["files"]["required"], "--flavor", fleet["files"]["flavor"],
            "--instance-numa-nodes", "0"]
    for h in ("cmp-a", "cmp-b", "cmp-c"):
        args += ["--host", fleet["hosts"][h]]
    r = cli(args)
    assert r.code == 0
    assert "chosen host: cmp-b" in r.out
    assert "why not cmp-a" in r.out and "policy is required" in r.out
    assert "Traceback" not in r.out + r.err


def test_bad_host_path_exits_2(cli: Any, fleet: dict[str, Any], tmp_path: Path) -> None:
    r = cli(["schedule", "--flavor", fleet["files"]["flavor"], "--host", str(tmp_path / "nope")])
    assert r.code == 2 and "Traceback" not in r.err and "nope" in r.err


@pytest.mark.parametrize("args", [
    ["schedule", "--host", "/"],
    ["schedule", "--flavor", "/nonexistent.json", "--host", "/"],
    ["schedule", "--flavor", str(Path(__file__)), "--host", "/", "--instance-numa-nodes", "x"],
], ids=["no-flavor", "missing-flavor", "bad-numa-nodes"])
def test_usage_errors(cli: Any, args: list[str]) -> None:
    assert cli(args).code == 64


def test_2013_labels_schedule_by_label_across_hosts(cli: Any, tmp_path: Path) -> None:
    """The original design: one label names devices at different addresses on each host."""
    hosts = []
    for name, profile in (("old-a", "1x nvidia-a100 driver=vfio-pci"),
                          ("old-b", "2x nvidia-a100 driver=vfio-pci")):
        built = fakehost.build(tmp_path / name, f"{profile}; hostname={name}; cmdline=intel_iommu=on")
        gpu = next(d.address for d in built.devices if d.product_id == "20b5"
                   or d.vendor_id == "10de")
        (built.root / "etc/nova").mkdir(parents=True)
        (built.root / "etc/nova/nova.conf").write_text(
            f'[DEFAULT]\nhost = {name}\npci_passthrough_devices = '
            f'[{{"label": "gpu", "address": "{gpu}"}}]\n')
        hosts.append(str(built.root))
    flavor = write(tmp_path / "f.json", json.dumps({"name": "gpu.legacy", "vcpus": 1, "ram": 512,
                                                    "properties": {"pci_passthrough:labels": '["gpu"]'}}))
    r = cli(["schedule", "--flavor", flavor, "--host", hosts[0], "--host", hosts[1], "-f", "json"])
    assert r.code == 0, r.err
    doc = r.json()
    validate_schema(doc, "schedule")
    res = doc["results"][0]
    assert res["requests"] == [{"alias_name": "gpu", "count": 1, "numa_policy": None,
                                "specs": [{"label": "gpu"}]}]
    assert all(h["fits"] for h in res["hosts"])
    assert {h["devices"][0]["alias_name"] for h in res["hosts"]} == {"gpu"}
    two = write(tmp_path / "f2.json", json.dumps({"name": "gpu.two", "vcpus": 1, "ram": 512,
                                                  "properties": {"pci_passthrough:labels":
                                                                 '["gpu", "gpu"]'}}))
    doc = cli(["schedule", "--flavor", two, "--host", hosts[1], "-f", "json"]).json()
    # only one device per host carries the label
    assert not doc["results"][0]["hosts"][0]["fits"]


# -- the fleet index answers like evaluating host by host -------------------------------------

PF_ALIAS = '{"name": "intel-pf", "vendor_id": "8086", "product_id": "1572", "device_type": "type-PF"}'
VARIED = {
    # name: (profile, [pci]device_spec or None, extra [DEFAULT] lines)
    "v-node1": ("2x intel-x710 numa=1 vfs=4 vf-driver=iavf; numa-nodes=2", SPEC, ""),
    "v-node0": ("2x intel-x710 numa=0 vfs=4 vf-driver=iavf; numa-nodes=2", SPEC, ""),
    "v-node0-twin": ("2x intel-x710 numa=0 vfs=4 vf-driver=iavf; numa-nodes=2", SPEC, ""),
    "v-split": ("1x intel-x710 numa=0 vfs=2 vf-driver=iavf; 1x intel-x710 numa=1 vfs=2 "
                "vf-driver=iavf; numa-nodes=2", SPEC, ""),
    "v-unknown-node": ("1x intel-x710 numa=-1 vfs=4 vf-driver=iavf; numa-nodes=2", SPEC, ""),
    "v-82599": ("1x intel-82599 numa=0 vfs=4 vf-driver=ixgbevf; numa-nodes=2", SPEC, ""),
    "v-pf-spec": ("1x intel-x710 numa=0 vfs=2 vf-driver=iavf; numa-nodes=2",
                  '{"vendor_id": "8086", "physical_network": "physnet2"}', ""),
    "v-pf-spec-two": ("2x intel-x710 numa=1 vfs=2 vf-driver=iavf; numa-nodes=2",
                      '{"vendor_id": "8086", "physical_network": "physnet2"}', ""),
    "v-no-spec": ("1x intel-x710 numa=0 vfs=2 vf-driver=iavf; numa-nodes=2", None, ""),
    "v-bad-spec": ("1x intel-x710 numa=0 vfs=2 vf-driver=iavf; numa-nodes=2",
                   '{"vendor_id": "80861"}', ""),
    "v-bad-cpus": ("1x intel-x710 numa=0 vfs=4 vf-driver=iavf; numa-nodes=2", SPEC,
                   "cpu_dedicated_set = 0-x\n"),
    "v-one-node": ("1x intel-x710 numa=0 vfs=4 vf-driver=iavf; numa-nodes=1", SPEC, ""),
}


@pytest.fixture(scope="module")
def varied(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("varied")
    roots = []
    for name, (profile, device_spec, extra) in VARIED.items():
        built = fakehost.build(d / name, f"{profile}; hostname={name}; cmdline=intel_iommu=on")
        (built.root / "etc/nova").mkdir(parents=True, exist_ok=True)
        pci = f"[pci]\ndevice_spec = {device_spec}\n" if device_spec else ""
        (built.root / "etc/nova/nova.conf").write_text(
            f"[DEFAULT]\nhost = {name}\n{extra}[compute]\n{pci}")
        roots.append(str(built.root))
    flavors = {}
    for name, props in {
            "required": {"hw:numa_nodes": "1", "pci_passthrough:alias": "intel-vf:2",
                         "hw:pci_numa_affinity_policy": "required"},
            "preferred": {"hw:numa_nodes": "1", "pci_passthrough:alias": "intel-vf:3",
                          "hw:pci_numa_affinity_policy": "preferred"},
            "socket": {"hw:numa_nodes": "1", "pci_passthrough:alias": "intel-vf:1",
                       "hw:pci_numa_affinity_policy": "socket"},
            "two-nodes": {"hw:numa_nodes": "2", "pci_passthrough:alias": "intel-vf:2"},
            "pf-and-vf": {"pci_passthrough:alias": "intel-pf:1,intel-vf:1"},
            "plain": {}}.items():
        flavors[name] = write(d / f"{name}.json", json.dumps(
            {"name": name, "vcpus": 2, "ram": 2048, "disk": 1, "properties": props}))
    conf = write(d / "ctl.conf", "[pci]\nalias = %s\nalias = %s\n" % (ALIAS % "legacy", PF_ALIAS))
    return {"roots": roots, "flavors": flavors, "conf": conf}


@pytest.mark.parametrize("extra", [
    [], ["--instance-numa-nodes", "0"], ["--instance-numa-nodes", "1"],
    ["--instance-numa-nodes", "3"], ["--port", "vnic_type=direct,physnet=physnet2"],
    ["--port", "vnic_type=direct-physical,physnet=physnet2", "--port", "vnic_type=direct,physnet=physnet2"],
], ids=["plain", "pinned-0", "pinned-1", "pinned-unknown", "port", "pf-port"])
def test_index_gives_the_report_of_evaluating_each_host(
        cli: Any, varied: dict[str, Any], extra: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from pcipass.services import schedule as schedule_svc

    args = ["schedule", "--nova-conf", varied["conf"], *extra, "-f", "json"]
    for f in varied["flavors"].values():
        args += ["--flavor", f]
    for root in varied["roots"]:
        args += ["--host", root]
    indexed = cli(args)
    with monkeypatch.context() as m:
        m.setattr(schedule_svc.Fleet, "verdicts", lambda self, reqs, shape, pinned=None, **_: [
            schedule_svc.evaluate(h, reqs, shape, pinned) for h in self.models])
        per_host = cli(args)
    assert (indexed.code, indexed.out, indexed.err) == (per_host.code, per_host.out, per_host.err)
    doc = indexed.json()
    validate_schema(doc, "schedule")
    hosts = [h for r in doc["results"] for h in r["hosts"]]
    assert any(not h["fits"] for h in hosts)
    assert any(h["fits"] for h in hosts) or "3" in extra


def test_options_are_named_in_messages(cli: Any, fleet: dict[str, Any]) -> None:
    """The core words ports and pinned nodes without option names; the command names its options."""
    _, doc = run(cli, fleet, "--port", "physnet=p", flavors=("plain",), hosts=("cmp-b",))
    error = doc["results"][0]["error"]
    assert (error["code"], error["message"], error["hint"]) == (
        "InvalidPortRequest", "Invalid --port value 'physnet=p': vnic_type is missing",
        "e.g. --port vnic_type=direct,physnet=physnet1")
    _, doc = run(cli, fleet, "--port", "vnic_type=direct,phynet=p", flavors=("plain",),
                 hosts=("cmp-b",))
    error = doc["results"][0]["error"]
    assert (error["message"], error["hint"]) == (
        "Invalid --port value 'vnic_type=direct,phynet=p': unknown key 'phynet'",
        "did you mean 'physnet'?")
    _, doc = run(cli, fleet, "--instance-numa-nodes", "0,1")
    assert doc["results"][0]["error"]["message"] == (
        "--instance-numa-nodes lists 2 node(s) but the flavor asks for hw:numa_nodes=1")
    _, doc = run(cli, fleet, "--instance-numa-nodes", "0,0", flavors=("plain",))
    error = doc["results"][0]["error"]
    assert (error["code"], error["message"], error["hint"]) == (
        "UnsupportedTopology", "pcipass cannot model this instance NUMA layout: "
        "--instance-numa-nodes [0, 0] must name distinct host nodes", "e.g. --instance-numa-nodes 0,1")
    _, doc = run(cli, fleet, "--instance-numa-nodes", "5", hosts=("cmp-b",))
    (reason,) = doc["results"][0]["hosts"][0]["reasons"]
    assert reason == {"layer": "numa", "severity": "fail", "dropped": 0,
                      "message": "--instance-numa-nodes names node(s) 5; this host has NUMA node(s) 0,1",
                      "evidence": [{"source": "host", "value": "NUMA nodes 0,1"}]}
