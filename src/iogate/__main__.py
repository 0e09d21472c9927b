"""`python3 -m iogate ARGS` (what ./iogate runs): the command line."""
import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
