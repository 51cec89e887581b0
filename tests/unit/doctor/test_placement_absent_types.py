"""Absent is not negative for the Placement layer (issue 19, point 3): a host known from a
paste that shows no device types has no knowable translation, so its Placement checks skip
with the reason instead of flagging providers that may be right."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcipass.core import rptree
from pcipass.doctor import model
from pcipass.services import scan
from pcipass.services.doctor import placementfacts



def test_a_paste_without_device_types_has_no_translation(shared: Path, tmp_path: Path) -> None:
    # A real `lspci -nn` paste of a V100S server (origin beside it in the corpus): no
    # capability lines, so no device's type can be told.
    paste = shared / "corpus" / "lspci" / "satishdotpatel_v100s_lspci_nn.txt"
    conf = tmp_path / "nova.conf"
    conf.write_text('[pci]\ndevice_spec = {"vendor_id": "10de"}\nreport_in_placement = True\n')
    [host] = scan.scan_hosts([], lspci=[paste], compute_conf=[conf]).hosts
    assert any(d.dev_type is None for d in host.devices)
    state = rptree.PlacementState(source="test", microversion="1.39", providers=())
    with pytest.raises(model.FactMissing, match="type of .* device.* is unknown"):
        placementfacts.host_facts(host, state)
