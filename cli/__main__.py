"""`python -m cli …` runs the `isnad` command line (the served-app tests and benchmarks start it this way)."""

import sys

from cli.main import main

sys.exit(main())
