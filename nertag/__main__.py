"""python -m nertag: the console entry point (see nertag.console)."""
import sys

try:
    from .console import main
except KeyboardInterrupt:  # Ctrl-C before even the entry point is imported
    sys.exit(130)

main()
