"""``python -m invdiff``: the ``invdiff`` command line (exits with its status)."""

from .cli import main

main()
