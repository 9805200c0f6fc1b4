"""The ``niah`` command line: one module per command."""
