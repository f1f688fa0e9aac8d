"""`python -m bot`: the command line of bot.cli (installed as the console script `daifu`)."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m bot"))
