"""``python -m fragility``."""

from fragility.cli import main

main()
