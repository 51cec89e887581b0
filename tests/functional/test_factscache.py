"""facts.json (contracts §1): saved on request, used only when valid, never trusted blindly.

Round trips run on the real-kernel captures and on fake trees; the hostile
files are each refused with the entry that is wrong, and the scan then reads
sysfs and gives the same document as without any cache.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from support import unpack_trusted, validate_schema

from pcipass import __version__, fakehost
from pcipass.adapters import factscache, roots
from pcipass.services import scan
from pcipass.services.jsonview import to_json

CAPTURES = ("lab-iommu", "lab-noiommu")


def _doc(path: Path, **kwargs: Any) -> dict[str, Any]:
    return to_json(scan.scan_hosts([path], **kwargs))


def _without_source(doc: dict[str, Any]) -> dict[str, Any]:
    for host in doc["hosts"]:
        host.pop("facts_from")
    return doc


@pytest.fixture(scope="module", params=CAPTURES)
def capture(request: pytest.FixtureRequest, shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp(request.param)
    unpack_trusted(shared / "corpus/realkernel" / f"{request.param}.tar.gz", dest)
    (root,) = [p for p in dest.iterdir() if p.is_dir()]
    return root


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    fakehost.build(root, "2x intel-x710 pf numa=1 vfs=8 vf-driver=iavf; 1x nvidia-a100 numa=0 "
                         "driver=vfio-pci; cmdline=intel_iommu=on")
    (root / "etc/nova").mkdir(parents=True, exist_ok=True)
    (root / "etc/nova/nova.conf").write_text(
        '[pci]\ndevice_spec = {"vendor_id": "8086", "product_id": "154c", "physical_network": "p1"}\n')
    return root


def test_a_saved_capture_scans_to_the_same_document_from_facts_json(capture: Path) -> None:
    fresh = _doc(capture, facts_cache=scan.CACHE_SAVE)
    assert (capture / "facts.json").is_file()
    cached = _doc(capture)
    assert fresh["hosts"][0]["facts_from"] == "sysfs"
    assert cached["hosts"][0]["facts_from"] == "facts.json"
    validate_schema(cached, "scan")
    assert _without_source(cached) == _without_source(fresh)
    assert len(cached["hosts"][0]["devices"]) == len(fresh["hosts"][0]["devices"]) > 5


def test_the_config_is_read_afresh_even_from_a_cache(fake: Path) -> None:
    _doc(fake, facts_cache=scan.CACHE_SAVE)
    assert sum(d["passthrough"] for d in _doc(fake)["hosts"][0]["devices"]) == 16
    (fake / "etc/nova/nova.conf").write_text('[pci]\ndevice_spec = {"vendor_id": "10de"}\n')
    doc = _doc(fake)
    assert doc["hosts"][0]["facts_from"] == "facts.json"
    assert [d["vendor_id"] for d in doc["hosts"][0]["devices"] if d["passthrough"]] == ["10de"]


def test_ignore_reads_sysfs_and_a_device_list_change_makes_the_cache_stale(fake: Path) -> None:
    _doc(fake, facts_cache=scan.CACHE_SAVE)
    assert _doc(fake, facts_cache=scan.CACHE_IGNORE)["hosts"][0]["facts_from"] == "sysfs"
    devices = fake / "sys/bus/pci/devices"
    victim = sorted(os.listdir(devices))[-1]
    os.unlink(devices / victim)
    doc = _doc(fake)
    host = doc["hosts"][0]
    assert host["facts_from"] == "sysfs"
    assert victim not in {d["address"] for d in host["devices"]}
    assert any(w.startswith("facts.json: stale") for w in host["warnings"])


def _tamper(root: Path, change: Any) -> None:
    path = root / "facts.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _set_numa(doc: dict[str, Any]) -> None:
    doc["sysfs"]["devices"][3]["numa_node"] = "1"


def _bool_as_int(doc: dict[str, Any]) -> None:
    doc["sysfs"]["devices"][0]["vf_index"] = True


def _unknown_key(doc: dict[str, Any]) -> None:
    doc["kernel"]["cmdline"]["rootkit"] = "x"


def _bad_group_key(doc: dict[str, Any]) -> None:
    doc["sysfs"]["iommu_groups"] = {"seven": ["0000:00:00.0"]}


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d.update(schema="pcipass-facts/0"), "schema 'pcipass-facts/0' is not pcipass-facts/1"),
    (lambda d: d.update(version="0.0.1"), f"written by pcipass '0.0.1', this is {__version__}"),
    (lambda d: d.pop("kernel"), "no kernel"),
    (_set_numa, "sysfs.devices[3].numa_node: expected an integer, found \"1\""),
    (_bool_as_int, "sysfs.devices[0].vf_index: expected an integer, found true"),
    (_unknown_key, "kernel.cmdline: unknown key 'rootkit'"),
    (_bad_group_key, "sysfs.iommu_groups['seven']: expected an integer key"),
])
def test_a_hostile_facts_json_is_named_and_ignored(fake: Path, change: Any, expected: str) -> None:
    reference = _doc(fake, facts_cache=scan.CACHE_SAVE)
    _tamper(fake, change)
    doc = _doc(fake)
    host = doc["hosts"][0]
    assert host["facts_from"] == "sysfs"
    notes = [w for w in host["warnings"] if w.startswith("facts.json:")]
    assert notes == [f"facts.json: {expected}; ignored, sysfs read instead"]
    host["warnings"].remove(notes[0])
    assert _without_source(doc) == _without_source(reference)


@pytest.mark.parametrize("content", [b"", b"{\"schema\": \"pcipass-facts/1\", \"sysf", b"\xff\xfe[]", b"[1, 2]"])
def test_truncated_or_garbage_facts_json_is_ignored(fake: Path, content: bytes) -> None:
    _doc(fake, facts_cache=scan.CACHE_SAVE)
    (fake / "facts.json").write_bytes(content)
    host = _doc(fake)["hosts"][0]
    assert host["facts_from"] == "sysfs"
    assert len([w for w in host["warnings"] if w.startswith("facts.json: ")]) == 1


def test_a_facts_json_link_leading_out_of_the_root_is_not_followed(fake: Path, tmp_path: Path) -> None:
    _doc(fake, facts_cache=scan.CACHE_SAVE)
    outside = tmp_path / "elsewhere.json"
    shutil.move(fake / "facts.json", outside)
    os.symlink(outside, fake / "facts.json")
    host = _doc(fake)["hosts"][0]
    assert host["facts_from"] == "sysfs"
    assert any(w.startswith("facts.json: symlink to") and "outside the host root" in w
               for w in host["warnings"])
    # saving replaces the link itself and leaves its target alone
    before = outside.read_bytes()
    _doc(fake, facts_cache=scan.CACHE_SAVE)
    assert not (fake / "facts.json").is_symlink() and outside.read_bytes() == before


def test_saving_is_refused_for_the_live_host_and_for_bundles(tmp_path: Path, shared: Path) -> None:
    with pytest.raises(factscache.FactsCacheRefused, match="never writes into the live host"):
        scan.scan_hosts(["/"], facts_cache=scan.CACHE_SAVE)
    bundle = shared / "corpus/realkernel/lab-iommu.tar.gz"
    with pytest.raises(factscache.FactsCacheRefused, match="a bundle is not rewritten"):
        scan.scan_hosts([bundle], facts_cache=scan.CACHE_SAVE)


def test_the_live_host_never_uses_a_cache() -> None:
    with roots.open_root("/") as root:
        notes: list[str] = []
        assert factscache.load(root, notes) is None and notes == []


def test_cli_save_then_use_then_ignore(cli: Any, fake: Path) -> None:
    saved = cli(["scan", "--host", str(fake), "--save-facts", "-f", "json"])
    assert saved.code == 0, saved.err
    assert "saved facts.json in 1 host root(s)" in saved.err
    used = cli(["scan", "--host", str(fake), "-f", "json"])
    assert json.loads(used.out)["hosts"][0]["facts_from"] == "facts.json"
    ignored = cli(["scan", "--host", str(fake), "--no-facts-cache", "-f", "json"])
    assert json.loads(ignored.out)["hosts"][0]["facts_from"] == "sysfs"
    both = cli(["scan", "--host", str(fake), "--save-facts", "--no-facts-cache"])
    assert both.code == 64
    live = cli(["scan", "--host", "/", "--save-facts"])
    assert live.code == 2 and "never writes into the live host" in live.err


def test_doctor_and_schedule_use_the_cache_unless_told_not_to(cli: Any, fake: Path, tmp_path: Path) -> None:
    _doc(fake, facts_cache=scan.CACHE_SAVE)
    doctor = cli(["doctor", "--host", str(fake), "-f", "json"])
    assert doctor.json()["hosts"][0]["facts_from"] == "facts.json"
    validate_schema(doctor.json(), "doctor")
    fresh = cli(["doctor", "--host", str(fake), "--no-facts-cache", "-f", "json"])
    assert fresh.json()["hosts"][0]["facts_from"] == "sysfs"
    assert fresh.json()["findings"] == doctor.json()["findings"]
    flavor = tmp_path / "flavor.json"
    flavor.write_text(json.dumps({"name": "f", "properties": {"pci_passthrough:alias": "a:1"}}))
    conf = tmp_path / "controller.conf"
    conf.write_text('[pci]\nalias = {"name": "a", "vendor_id": "8086", "product_id": "154c", '
                    '"device_type": "type-VF"}\n')
    runs = [cli(["schedule", "--flavor", str(flavor), "--nova-conf", str(conf), "--host", str(fake),
                 *extra, "-f", "json"]) for extra in ([], ["--no-facts-cache"])]
    assert runs[0].code == runs[1].code == 0, runs[0].err
    assert runs[0].json() == runs[1].json()
    assert runs[0].json()["results"][0]["hosts"][0]["fits"] is True


# -- hostile facts.json, generated ---------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.floats(allow_nan=False),
                         st.text(max_size=6), st.just([]), st.just({}), st.just(["x"]))


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            out += _paths(v, (*prefix, i))
    return out


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("fuzz") / "host"
    fakehost.build(root, "1x intel-x710 pf numa=0 vfs=2 vf-driver=iavf; cmdline=intel_iommu=on")
    scan.scan_hosts([root], facts_cache=scan.CACHE_SAVE)
    return root, json.loads((root / "facts.json").read_text())


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_mutation_is_used_exactly_or_refused_with_one_named_warning(
        saved: tuple[Path, dict[str, Any]], data: st.DataObject) -> None:
    root, original = saved
    doc = json.loads(json.dumps(original))
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(_JSON_LEAVES)
    with roots.open_root(root) as opened:
        notes: list[str] = []
        os.replace(root / "facts.json", root / "facts.json.orig")
        try:
            (root / "facts.json").write_text(json.dumps(doc))
            got = factscache.load(opened, notes)
        finally:
            os.replace(root / "facts.json.orig", root / "facts.json")
    if got is None:
        assert len(notes) == 1 and notes[0].startswith("facts.json: ") and notes[0].endswith(
            "; ignored, sysfs read instead"), notes
    else:  # accepted: only a mutation that still type-checks (e.g. another string)
        assert notes == []
        assert isinstance(got, factscache.CachedFacts)
