"""``python -m invdiff``: the ``invdiff`` command line."""

import sys

from .cli import main

sys.exit(main())
