"""The guest's device elements are valid libvirt domain XML: wrapped in a minimal
``<domain>``, ``virt-xml-validate`` (Debian's libvirt-clients, with xmllint from libxml2-utils,
both installed by ``make test``) accepts them against libvirt's own schema."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pcipass.core import libvirtxml
from support import skip_unless_ci

DOMAIN = """<domain type="kvm">
  <name>pcipass-check</name>
  <memory unit="MiB">1024</memory>
  <os><type arch="x86_64">hvm</type></os>
  <devices>
{devices}  </devices>
</domain>
"""


def validate(xml: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("virt-xml-validate") is None or shutil.which("xmllint") is None:
        skip_unless_ci("virt-xml-validate and xmllint (make test installs libvirt-clients and "
                       "libxml2-utils)")
    path = tmp_path / "domain.xml"
    path.write_text(xml)
    return subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True,
                          text=True, timeout=60)


def test_hostdevs_and_port_interfaces_validate(tmp_path: Path) -> None:
    devices = [libvirtxml.GuestDevice("0000:3b:00.0"),                      # a GPU, managed
               libvirtxml.GuestDevice("0000:81:00.0", managed="false"),     # a PF, unmanaged
               libvirtxml.GuestDevice("0000:81:02.1", managed="true"),      # a VF by alias
               libvirtxml.GuestDevice("0000:82:02.7", mac="fa:16:3e:11:22:33", vlan=100),
               libvirtxml.GuestDevice("ffff:ff:1f.7", mac="52:54:00:ab:cd:ef")]
    text = libvirtxml.devices_xml(devices)
    done = validate(DOMAIN.format(devices=text), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert text.count("<hostdev ") == 3 and text.count('<interface type="hostdev"') == 2


def test_the_validator_refuses_a_broken_element(tmp_path: Path) -> None:
    """The check is not vacuous: a hostdev without its source address fails it."""
    done = validate(DOMAIN.format(devices='<hostdev mode="subsystem" type="pci" '
                                          'managed="yes"><source/></hostdev>\n'), tmp_path)
    assert done.returncode != 0
