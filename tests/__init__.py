"""The test suite.

Imported before any conftest, so the one place to give the session's processes a
bytecode cache where the environment turns it off (PYTHONDONTWRITEBYTECODE, as on the
CI machine): without one, each xdist worker and each `medhub` process a test starts
compiles every imported module again, about 4 s of CPU apiece. The cache goes under
`var/pycache` (ignored, removed by `make clean`), never next to the sources.
"""

import os
import sys
from pathlib import Path

if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
    cache = os.environ.setdefault(
        "PYTHONPYCACHEPREFIX", str(Path(__file__).resolve().parent.parent / "var" / "pycache")
    )
    sys.pycache_prefix = cache
    sys.dont_write_bytecode = False
