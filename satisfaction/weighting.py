"""``satisfaction.weighting`` is :mod:`satisfaction.survey.weighting` (the survey engine's package); this
public name stays, as the same module object."""
import sys

from .survey import weighting as _module

sys.modules[__name__] = _module
