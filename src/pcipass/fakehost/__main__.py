"""``python -m pcipass.fakehost PROFILE DEST [--bundle FILE.tar.gz]``: write a fake host root.

PROFILE is a profile text or the name of a shipped profile (``x710-sriov``, ...).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pcipass import fakehost


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    bundle = None
    if "--bundle" in args:
        at = args.index("--bundle")
        if at + 1 >= len(args):
            sys.stderr.write("--bundle needs a file name\n")
            return 64
        bundle = args[at + 1]
        del args[at:at + 2]
    if len(args) != 2:
        sys.stderr.write(__doc__ or "")
        sys.stderr.write("shipped profiles: " + ", ".join(sorted(fakehost.PROFILES)) + "\n")
        return 64
    text = fakehost.PROFILES.get(args[0], args[0])
    try:
        built = fakehost.build(args[1], text)
    except (fakehost.FakeHostProfileInvalid, FileExistsError) as exc:
        sys.stderr.write(f"pcipass.fakehost: {exc}\n")
        return 2
    if bundle:
        fakehost.pack(built, bundle)
    sys.stdout.write(f"{built.root}: {len(built.devices)} PCI functions\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
