"""Run ``accord sync …`` in a child process (the SIGKILL test), as the wired CLI would."""

import sys

from accord.commands.sync import sync_app

if __name__ == "__main__":
    sync_app(sys.argv[1:], prog_name="accord sync")
