"""The command-line interface: one module per command group, only parsing and printing."""
