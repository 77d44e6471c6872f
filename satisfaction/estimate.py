"""``satisfaction.estimate`` is :mod:`satisfaction.survey.estimate` (the survey engine's package); this
public name stays, as the same module object."""
import sys

from .survey import estimate as _module

sys.modules[__name__] = _module
