"""``satisfaction.plotting`` is :mod:`satisfaction.report.plotting`; this name stays, as the same
module object."""
import sys

from .report import plotting as _module

sys.modules[__name__] = _module

if __name__ == "__main__":
    sys.exit(_module.main())
