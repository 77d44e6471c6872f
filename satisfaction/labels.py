"""``satisfaction.labels`` is :mod:`satisfaction.report.labels`; this name stays, as the same
module object."""
import sys

from .report import labels as _module

sys.modules[__name__] = _module
