"""The ``nertag`` console entry point: the CLI, with Ctrl-C during start-up an exit like any other.

A SIGINT can arrive while ``nertag.cli`` and NumPy are still being imported, before the commands install
their own handling; here it ends the process with code 130 and no traceback.
"""
import sys


def main() -> None:
    try:
        from .cli import app

        app()
    except KeyboardInterrupt:
        sys.exit(130)
