"""Old keyword spellings kept working, with a warning, after a rename for clarity."""
from __future__ import annotations

import functools
import warnings


def renamed(**old_to_new):
    """Decorator: accept each old keyword (``ci=``) as its new name (``level=``) with a
    :class:`DeprecationWarning`; giving both is an error."""
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{func.__name__}() got both {old}= and {new}=; use {new}=")
                    warnings.warn(f"{func.__name__}({old}=) is deprecated; use {new}= (the same meaning)",
                                  DeprecationWarning, stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)
        return wrapper
    return decorate
