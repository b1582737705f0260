"""``python -m worldforge_otel``."""

import sys

from worldforge_otel.cli import main

sys.exit(main())
