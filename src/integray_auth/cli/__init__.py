"""The command layer: Typer commands that parse options and call one use case."""
