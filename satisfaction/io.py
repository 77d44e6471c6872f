"""``satisfaction.io`` is :mod:`satisfaction.ingest` (readers, validation, the Survey, atomic
storage); this name stays, as the same module object."""
import sys

from . import ingest as _module

sys.modules[__name__] = _module
