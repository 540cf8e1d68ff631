"""`python -m gateway` is the `inbox311` command."""

from gateway.cli import main

raise SystemExit(main())
