"""The command-line interface: one module per command group, no logic beyond parsing and printing."""
