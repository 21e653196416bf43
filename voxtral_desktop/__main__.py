"""`python -m voxtral_desktop` runs the same entry point as the `voxtral-desktop` command."""

from voxtral_desktop.cli import main

raise SystemExit(main())
