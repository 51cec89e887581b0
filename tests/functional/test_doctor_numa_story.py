"""The story pcipass grew from: the PF's ID in device_spec and alias, VFs on a node the flavor cannot use.

An 82599 PF reports product id 10fb, its VFs 10ed (the fake host's model, from
hardware-facts.md). The operator copied 10fb into both the device_spec and the
alias. The VFs sit on NUMA node 1. The flavor pins 6 vCPUs on one NUMA node
under ``required``, and only node 0 has 6 CPUs for it. One doctor run must say
both things: the id is wrong, and even after the id fix the flavor will not
fit (the node, the CPUs, the fix).
"""

from __future__ import annotations

import json
from pathlib import Path

from test_doctor_hosts import PROFILE, Host, healthy
from test_doctor_layers import fired

#: The VFs on node 1; 8 CPUs per node, so node 0 (CPUs 0-7) can hold 6 pinned vCPUs.
STORY = PROFILE.replace("2x intel-82599 numa=0 vfs=4", "2x intel-82599 numa=1 vfs=4") + "; cpus-per-node=8"


def _story(tmp_path: Path, dedicated: str | None) -> Host:
    host = healthy(tmp_path, STORY)
    line = f"cpu_dedicated_set = {dedicated}\n" if dedicated is not None else ""
    host.replace("etc/nova/nova.conf", "cpu_dedicated_set = 1-3,5-7\n", line)
    host.replace("etc/nova/nova.conf", '"product_id": "10ed"', '"product_id": "10fb"')
    host.controller.write_text(host.controller.read_text().replace('"product_id": "10ed"', '"product_id": "10fb"'))
    flavor = json.loads(host.flavor.read_text())
    host.flavor.write_text(json.dumps(dict(flavor, vcpus=6)))
    return host


def test_story_id_wrong_and_numa_judged_after_the_fix_of_spec_and_alias(tmp_path: Path) -> None:
    # cpu_dedicated_set holds node 0's CPUs 1-7 only: node 1 (CPUs 8-15) has no dedicated CPU.
    host = _story(tmp_path, "1-7")
    got = fired(host.diagnose())
    # The id: the spec claims the PFs (10fb) whose VFs report 10ed; the alias asks type-VF of 10fb.
    assert {"PCI-S011", "PCI-S005"} <= set(got)
    assert "its 8 VFs report 10ed" not in got["PCI-S011"][0].message  # one PF: 4 VFs each
    assert "10ed" in got["PCI-S011"][0].message and "10ed" in got["PCI-S005"][0].message
    # NUMA, judged with both the spec and the alias corrected in one hypothesis.
    [n2] = got["PCI-N002"]
    assert n2.severity == "fail"
    assert n2.message.startswith("after you fix the product_id 10fb -> 10ed in device_spec entry 0 and "
                                 "alias 'vf', these 8 VFs on NUMA node 1 still won't fit alias 'vf' under "
                                 "required: the instance (6 vCPUs pinned, 2048 MiB) can only be placed on "
                                 "NUMA node(s) 0"), n2.message
    assert "guest cell 0 needs 6 dedicated CPUs but host NUMA node 1 has 0" in n2.message
    assert n2.fix is not None and "add NUMA node 1's CPUs (8,9,10,11,12,13,14,15) to [compute] cpu_dedicated_set" \
        in n2.fix
    sources = [e.value for e in n2.evidence]
    assert any(v.startswith('device_spec = {"vendor_id": "8086", "product_id": "10fb"') for v in sources)
    assert any(v.startswith("alias = ") and '"10fb"' in v for v in sources)


def test_story_without_cpu_dedicated_set_judges_the_fit_once_it_is_set(tmp_path: Path) -> None:
    """No cpu_dedicated_set: the fit is judged as if it held each node's CPUs, and the message says so.

    Node 1 is cut to 4 CPUs (8-11) in sysfs, so even with every CPU of the node dedicated the 6
    pinned vCPUs fit only node 0, where the VFs are not."""
    host = _story(tmp_path, None)
    host.write("sys/devices/system/node/node1/cpulist", "8-11\n")
    got = fired(host.diagnose())
    assert "PCI-C004" in got  # no PCPU inventory without cpu_dedicated_set: said separately
    [n2] = got["PCI-N002"]
    assert "after you fix the product_id 10fb -> 10ed in device_spec entry 0 and alias 'vf'" in n2.message
    assert "can only be placed on NUMA node(s) 0" in n2.message
    assert "[compute] cpu_dedicated_set is unset: judged as if it held every CPU of each NUMA node" in n2.message
    assert "guest cell 0 needs 6 dedicated CPUs but host NUMA node 1 has 4" in n2.message


def test_story_without_cpu_dedicated_set_that_would_fit_says_nothing_about_numa(tmp_path: Path) -> None:
    """Both nodes have 8 CPUs: once cpu_dedicated_set holds them, node 1 takes the instance and its VFs."""
    host = _story(tmp_path, None)
    got = fired(host.diagnose())
    assert "PCI-N002" not in got and {"PCI-S011", "PCI-S005", "PCI-C004"} <= set(got)
