"""``python -m audioxai_bench`` is the ``audioxai-bench`` command."""

import sys

from audioxai_bench.cli import main

sys.exit(main())
