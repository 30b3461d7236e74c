"""``python -m siting ...`` runs the command line, as the ``siting`` script does."""

from siting.cli import main

main()
