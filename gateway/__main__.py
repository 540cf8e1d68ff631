"""`python -m gateway` is the `inbox311` command."""

from gateway.cli import main

if __name__ == "__main__":  # the parse processes import this module's package without running the command
    raise SystemExit(main())
