"""``make demo``: an operator's PCI passthrough config, broken the way real ones break, then fixed.

Every step runs the real ``pcipass`` command in-process and checks its exit
code, so the demo fails loudly if the story stops being true.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
from pathlib import Path

from pcipass.cli import main as climain

BROKEN_CONF = """\
[DEFAULT]
host = compute-12

[pci]
# X710 VFs for the SR-IOV network (physnet2)
passthrough_whitelist = {"vendor_id": "8086", "product_id": "154c", "physical_netwrok": "physnet2"}
# the two A100s, one per socket
device_spec = [{"vendor_id": "10de", "product_id": "20b5", "address": "0000:3b:00.0"},
               {"vendor_id": "10de", "product_id": "20b5", "address": "0000:d8:20.0"}]
alias = {"name": "intel-vf", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF", "numa_policy": "required"}
alias = {"name": "a100", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"}
"""

FIXED_CONF = """\
[DEFAULT]
host = compute-12

[pci]
# X710 VFs for the SR-IOV network (physnet2)
device_spec = {"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet2"}
# the two A100s, one per socket
device_spec = [{"vendor_id": "10de", "product_id": "20b5", "address": "0000:3b:00.0"},
               {"vendor_id": "10de", "product_id": "20b5", "address": "0000:d8:00.0"}]
alias = {"name": "intel-vf", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF", "numa_policy": "required"}
alias = {"name": "a100", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"}
"""

FLAVOR_TYPO = """\
{"name": "nfv.medium", "vcpus": 8, "ram": 16384, "disk": 40,
 "properties": "hw:cpu_policy='dedicated', hw:numa_nodes='1', pci_passthrough:alias='intel_vf:2'"}
"""

FLAVOR_FIXED = """\
{"name": "nfv.medium", "vcpus": 8, "ram": 16384, "disk": 40,
 "properties": "hw:cpu_policy='dedicated', hw:numa_nodes='1', pci_passthrough:alias='intel-vf:2'"}
"""

LEGACY_CONF = """\
[DEFAULT]
host = compute-legacy
pci_passthrough_devices = [{"label": "with_eth", "address": "0000:04:10.7"}]
"""


def _banner(text: str) -> None:
    print("\n" + "=" * 100)
    print(textwrap.fill(text, 100))
    print("=" * 100, flush=True)


def _run(args: list[str], expect: int) -> None:
    print(f"$ pcipass {' '.join(args)}", flush=True)
    code = climain.main(args)
    print(f"(exit code {code})", flush=True)
    if code != expect:
        raise SystemExit(f"demo: expected exit code {expect} from 'pcipass {' '.join(args)}', got {code}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pcipass-demo-") as tmp:
        d = Path(tmp)
        for name, text in (("nova.conf", BROKEN_CONF), ("nova-fixed.conf", FIXED_CONF),
                           ("flavor.json", FLAVOR_TYPO), ("flavor-fixed.json", FLAVOR_FIXED),
                           ("nova-2013.conf", LEGACY_CONF)):
            (d / name).write_text(text)

        _banner("1. An operator's nova.conf, as found on compute-12. Nova would refuse to start "
                "nova-compute with one line of it and silently mis-pool devices because of another. "
                "pcipass reads it exactly as Nova does and names every file, line and fix.")
        _run(["config", "check", "--nova-conf", str(d / "nova.conf")], expect=2)

        _banner("2. The flavor the tenants boot. Nova would answer 'PCI alias intel_vf is not "
                "defined'; pcipass adds which alias was meant.")
        _run(["flavor", "explain", "--nova-conf", str(d / "nova.conf"), "--flavor",
              str(d / "flavor.json")], expect=2)

        _banner("3. Fixed: the current option name, the tag spelled right, the GPU's real slot, "
                "and the flavor naming the alias that exists.")
        _run(["config", "check", "--nova-conf", str(d / "nova-fixed.conf")], expect=0)
        _run(["flavor", "explain", "--nova-conf", str(d / "nova-fixed.conf"), "--flavor",
              str(d / "flavor-fixed.json")], expect=0)

        _banner("4. A host still configured the 2013 way ('PCI passthrough base': labels). Today's "
                "Nova ignores it; pcipass prints the modern equivalent: resource classes per label, "
                "aliases naming them, and PCI in Placement.")
        _run(["config", "check", "--nova-conf", str(d / "nova-2013.conf")], expect=1)
    print("\ndemo: every step behaved as expected.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
