"""``python -m logifold_kedro.importer ZIP ... [--env ENV] [--dry-run]``."""

import sys

from logifold_kedro.importer.command import main

sys.exit(main())
