"""`make demo` must keep telling its story: every step checks its own exit code."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

from pcipass import demo


def test_demo_runs_and_every_step_holds() -> None:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        assert demo.main() == 0
    text = out.getvalue()
    assert "did you mean 'intel-vf'?" in text
    assert "property slot (20) is greater than the maximum allowable value (1F)" in text
    assert "CUSTOM_WITH_ETH" in text
    assert "every step behaved as expected" in text
    # the fleet step: every rejected host has its reason
    fleet = text[text.index("9. A small fleet"):]
    assert "chosen host: rack1-b" in fleet
    for host in ("rack1-a", "rack2-a", "rack2-b"):
        assert f"why not {host}" in fleet
    flat = " ".join(fleet.split())  # tables wrap long reasons
    assert "policy is required" in flat and "4 VFs 8086:10ed" in flat
    _story_holds(text)
    store = text[text.index("10. The device store"):]
    assert "stored: 4 new, 0 updated, 0 deleted" in store
    assert "store unchanged" in store
    assert store.count("available") >= 4 and "0000:81:02.3" in store
    _claims_hold(text)


def _claims_hold(text: str) -> None:
    """Two claims get two devices, the first one's XML is a hostdev, a free returns the PF."""
    claims = text[text.index("11. Claims"):]
    runs = [" ".join(part.split()) for part in claims.split("(exit code ")]
    first = next(r for r in runs if "claimed 1 device(s) on compute-8 for flavor demo.vf" in r)
    second = next(r for r in runs if "for flavor demo.port" in r)
    mine = first.split("(lease 300 s)", 1)[1].split()[0]
    theirs = second.split("(lease 300 s)", 1)[1].split()[0]
    assert mine.startswith("0000:81:02.") and theirs.startswith("0000:81:02.") and mine != theirs
    assert f"already holds 1 device(s) on compute-8 for flavor demo.vf (lease 300 s) {mine}" in \
        " ".join(claims.split())
    assert "compute-8 0000:81:00.0 type-PF 8086:1572 1 unclaimable" in " ".join(claims.split())
    xml = claims[claims.index("13. The first"):claims.index("14. Both")]
    bus, slot_func = mine.split(":")[1], mine.split(":")[2]
    assert '<hostdev mode="subsystem" type="pci" managed="yes">' in xml
    assert f'bus="0x{bus}" slot="0x{slot_func[:2]}" function="0x{slot_func[3]}"' in xml
    freed = " ".join(claims[claims.index("14. Both"):].split())
    assert "compute-8 0000:81:00.0 type-PF 8086:1572 1 available" in freed
    assert "claimed" not in freed.rsplit("$ pcipass devices", 1)[1]


def _story_holds(text: str) -> None:
    """The operator's story: both bugs in the first doctor run, the NUMA one after the ID fix, then green."""
    story = text[text.index("5. An operator's story"):]
    parts = [" ".join(part.split()) for part in story.split("(exit code ")]
    # parts[i] holds run i's output; parts[i + 1] starts with run i's exit code.
    first, second, third, schedule = parts[0], parts[1], parts[2], parts[3]
    assert [p[:2] for p in parts[1:5]] == ["2)", "2)", "0)", "0)"]
    # Run 1: the PF's product_id (S011, with the sentence) and, already, the NUMA problem behind it.
    assert ("product_id 1572 matches the PF 0000:81:00.0; its 4 VFs report 154c. For VFs write 154c, "
            "and use device_type type-VF in the alias.") in first
    assert ("after you fix the product_id 1572 -> 154c in device_spec entry 0, these 4 VFs on NUMA node 1 "
            "still won't fit alias 'x710-vf' under required") in first
    assert "No valid host for flavor 'nfv.vf'; first broken layer per host: compute-7: device_spec" in first
    # Run 2: ID fixed; the NUMA problem remains, with the fix to pin or relax.
    assert "product_id 1572" not in second.split("2)", 1)[1]
    assert ("the 4 VFs it can use sit on NUMA node 1, but the instance (2 vCPUs pinned, 4096 MiB) can only be "
            "placed on NUMA node(s) 0") in second
    assert "hw:pci_numa_affinity_policy=preferred" in second
    assert "compute-7: numa - guest cell 0 needs 2 dedicated CPUs but host NUMA node 1 has 0" in second
    # Run 3: green, and the flavor mapping shows where it lands.
    assert "doctor: OK 0 fail, 0 warn" in third
    assert "compute-7 (chosen)" in third and "fits on NUMA 0 with devices" in third
    assert "chosen host: compute-7" in schedule
