"""``python -m pcipass`` runs the CLI."""

import sys

from pcipass.cli import main

sys.exit(main.main())
