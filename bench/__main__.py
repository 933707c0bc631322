"""``python -m bench``: see bench.harness.main."""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "node.settings")  # for benchmarks that need Django

from bench.harness import main

sys.exit(main())
