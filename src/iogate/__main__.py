"""`python3 -m iogate ARGS` (what ./iogate runs): the command line."""
import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the modules load: one line, like everywhere else
    print("iogate: interrupted", file=sys.stderr)
    sys.exit(2)

sys.exit(main(sys.argv[1:]))
