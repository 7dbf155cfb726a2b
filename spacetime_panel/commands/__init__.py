"""The terminal commands: one module per subcommand.

Each module has `add_parser(commands)`, which adds its subparser and sets
`run` as its default, and `run(args) -> int`, which returns the exit code.
`spacetime_panel.cli` lists them, parses and dispatches; `common` holds what
they share. Heavy imports (FastAPI, Qt) happen inside `run`, so a light
command starts quickly.
"""
