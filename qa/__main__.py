"""The `newsqa` command (and `python -m qa`): Ctrl-C is kept from being lost (qa/core/interrupts.py)
before the CLI's own imports, then the CLI runs."""

from qa.core.interrupts import caused_by_interrupt, keep_lost


def main() -> None:
    keep_lost()
    try:
        from qa.app.cli import main as cli
    except BaseException as exc:  # Ctrl-C itself, or wrapped in another error by Python 3.11
        if not caused_by_interrupt(exc):
            raise
        raise SystemExit(130) from None  # Ctrl-C while the command was loading: nothing done
    cli()


if __name__ == "__main__":
    main()
