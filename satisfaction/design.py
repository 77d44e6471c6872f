"""``satisfaction.design`` is :mod:`satisfaction.survey.design` (the survey engine's package); this
public name stays, as the same module object."""
import sys

from .survey import design as _module

sys.modules[__name__] = _module
