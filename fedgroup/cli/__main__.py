"""`python -m fedgroup.cli …` runs the admin command line."""

from fedgroup.cli.main import main

raise SystemExit(main())
