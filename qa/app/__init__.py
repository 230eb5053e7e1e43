"""What a user runs: the CLI commands, the application context, terminal rendering, the REPL."""
