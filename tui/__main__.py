"""`python -m tui`: the same as the `madvise-lab` command."""

import sys

from tui.cli import main

sys.exit(main())
