"""The `newsqa` command (and `python -m qa`): Ctrl-C is kept from being lost (qa/core/interrupts.py)
before the CLI's own imports, then the CLI runs."""

from qa.core.interrupts import keep_lost


def main() -> None:
    keep_lost()
    from qa.app.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
