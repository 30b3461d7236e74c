"""``python -m siting.cli ...``: the ``siting`` command."""

from siting.cli import main

main()
