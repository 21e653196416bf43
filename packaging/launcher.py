"""Entry script of the PyInstaller bundle: the same `main` as the installed `voxtral-desktop` command."""

import sys

from voxtral_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
