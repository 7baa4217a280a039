"""``python -m chimera`` runs the CLI."""

from chimera.cli import main

main()
