"""The test suite of the repository checkout (the library itself never reads the checkout)."""
from pathlib import Path

#: the repository checkout (tests/data, stations/, config/ live here, not in the package)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
