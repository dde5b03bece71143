"""Defer libraries that Gradio imports at start-up but the kanmin UI never uses.

``import gradio`` imports pandas (gradio.caching hashes DataFrames for ``gr.Cache``), which
holds ~25 MB of every server's memory although the chat has no DataFrame. :func:`install`
puts a stand-in module in ``sys.modules`` before Gradio is imported: ``import pandas`` binds
the stand-in, and the first attribute read from it (``pd.DataFrame``, or a submodule import,
which reads ``__path__``) imports the real library and forwards to it from then on.

The standard ``importlib.util.LazyLoader`` cannot do this on Python 3.11: the import statement
itself reads ``module.__spec__``, which makes it load at once.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types

DEFERRED = ("pandas",)  # imported by Gradio at start-up, used only by components kanmin does not build

_lock = threading.RLock()


class DeferredModule(types.ModuleType):
    """A module whose real import waits for the first attribute read."""

    def __init__(self, name: str, spec) -> None:
        super().__init__(name)
        # the import system reads __spec__ on every `import name`: a plain attribute, no load
        self.__spec__ = spec
        self.__loader__ = spec.loader
        self._kanmin_real: types.ModuleType | None = None

    def _kanmin_load(self) -> types.ModuleType:
        with _lock:
            if self._kanmin_real is None:
                name = self.__name__
                if sys.modules.get(name) is self:
                    del sys.modules[name]
                try:
                    self._kanmin_real = importlib.import_module(name)
                except BaseException:
                    sys.modules.setdefault(name, self)  # a later read may try again
                    raise
            return self._kanmin_real

    def __getattr__(self, attr: str):  # only for attributes the stand-in does not have
        if attr.startswith("_kanmin_"):
            raise AttributeError(attr)
        return getattr(self._kanmin_load(), attr)

    def __dir__(self):
        return dir(self._kanmin_load())


def install(names: tuple[str, ...] = DEFERRED) -> list[str]:
    """Stand-ins for ``names`` not imported yet (and installed); returns the names deferred."""
    done = []
    with _lock:
        for name in names:
            if name in sys.modules:
                continue
            spec = importlib.util.find_spec(name)
            if spec is None:  # not installed: Gradio's own import error stays as it is
                continue
            sys.modules[name] = DeferredModule(name, spec)
            done.append(name)
    return done


def is_loaded(name: str) -> bool:
    """True when the real library ``name`` is in memory (not just its stand-in)."""
    module = sys.modules.get(name)
    if isinstance(module, DeferredModule):
        return module._kanmin_real is not None
    return module is not None
