"""``python -m chainorder``: the same command line as ``chainorder``."""

import sys

from .cli import main

sys.exit(main())
