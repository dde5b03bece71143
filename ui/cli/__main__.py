"""`python -m ui.cli`: the kanmin command."""
import sys

from ui.cli.main import main

sys.exit(main())
