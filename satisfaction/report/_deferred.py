"""A dependency's import that costs more than it gives here, deferred until it is used.

``jsonschema`` — imported with ``nbformat``, hence by papermill and nbconvert, so by every report
run, in the process that starts the notebook and again in its kernel — imports the optional
``rfc3987_syntax`` when it is installed (``jupyter-events`` asks for it), to check strings of the
JSON-schema format ``iri``. That module builds its ~40 grammars when imported: about 1.5 s of CPU,
for a check that neither the notebook format nor anything else here makes. :func:`defer_iri_syntax`
puts a stand-in in its place whose ``is_valid_syntax`` (all ``jsonschema`` takes from it) imports
the real module the first time it is called, so that an ``iri`` check, if one ever runs, gives the
same answer as before.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["defer_iri_syntax"]

IRI_MODULE = "rfc3987_syntax"


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its names is used, then is replaced by it."""

    def _real(self) -> types.ModuleType:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return importlib.import_module(self.__name__)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return getattr(self._real(), name)


def defer_iri_syntax() -> bool:
    """Put the stand-in for ``rfc3987_syntax`` in place, unless that module is already imported or
    is not installed. Returns whether it did."""
    if IRI_MODULE in sys.modules or importlib.util.find_spec(IRI_MODULE) is None:
        return False
    stand_in = _Deferred(IRI_MODULE, "imported on first use (satisfaction.report._deferred)")

    def is_valid_syntax(*args, **kwargs):
        return stand_in._real().is_valid_syntax(*args, **kwargs)

    stand_in.is_valid_syntax = is_valid_syntax
    sys.modules[IRI_MODULE] = stand_in
    return True
