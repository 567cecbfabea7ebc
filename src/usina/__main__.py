"""``python -m usina`` runs the command line."""

from usina.cli.main import main

main()
