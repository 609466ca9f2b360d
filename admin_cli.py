"""The admin command line without installing: `python admin_cli.py group list`."""

from fedgroup.cli.main import main

raise SystemExit(main())
