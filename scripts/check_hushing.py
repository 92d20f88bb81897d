"""Check Hu–Shing against an independent DP on many chains (the same as ``chainorder verify``)."""

import sys

from chainorder.cli import main

if __name__ == "__main__":
    sys.exit(main(["verify", *sys.argv[1:]]))
