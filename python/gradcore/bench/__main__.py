"""``python -m gradcore.bench`` (same as ``python -m gradcore bench``)."""
import sys

from .runner import main

sys.exit(main())
