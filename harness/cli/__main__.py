"""``python -m harness.cli``: the same command line as ``harness``."""

import sys

from harness.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
