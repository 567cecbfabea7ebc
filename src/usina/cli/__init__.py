"""The ``usina`` command line: thin Typer commands over ``usina.Client``."""
