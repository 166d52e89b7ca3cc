"""``python -m conserje`` is the ``conserje`` command."""

import sys

from conserje.cli import main

sys.exit(main())
