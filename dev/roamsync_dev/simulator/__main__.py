"""`python -m roamsync_dev.simulator`: serve a simulator in the foreground."""

from roamsync_dev.simulator.server import main

raise SystemExit(main())
