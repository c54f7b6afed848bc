"""`python -m roamsync_dev.cli`: the same as the `roamsync` console script."""

from roamsync_dev.cli import main

if __name__ == "__main__":
    main()
