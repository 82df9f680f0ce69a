"""``python -m sknets`` runs the ``sknets`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
