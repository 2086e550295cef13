"""Entry point: `python -m workloads --flag value ...`."""

import sys

from workloads.cli import main

sys.exit(main())
