"""Modules the renderers import but compose never uses, loaded only if something does use them.

premailer imports ``requests`` at its top (it fetches external style sheets,
which compose forbids: ``allow_network=False``), and BeautifulSoup – which
mjml-python parses with – imports ``soupsieve`` (CSS selectors: mjml-python
calls none) and ``chardet`` (guessing the encoding of bytes: compose hands it
text); cssutils, premailer's CSS parser, imports ``urllib.request`` (and with
it ``http.client`` and ``ssl``) and ``importlib.metadata`` (for its user agent)
to fetch ``@import``-ed sheets, which compose never has. Together they cost
about 90 ms of every compose's start-up. (Its ``encutils`` also imports
``email.message``, but reads a class from it at once, so deferring it gains nothing.)

``defer_unused_imports`` puts each of them in ``sys.modules`` as a stand-in
module: importing it costs nothing, and the first attribute anyone reads
(other than ``__spec__`` and ``__name__``, which the import statement itself
looks at) loads the real module in full, in place, so any other user (a test,
another library) still gets the real thing. The standard library's
``importlib.util.LazyLoader`` works the same way, but on Python 3.11 its module
loads at the next ``import`` statement already, because that reads ``__spec__``.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from importlib.machinery import ModuleSpec

#: Imported by premailer, cssutils and BeautifulSoup, unused on the compose path (see the module docstring).
UNUSED_ON_COMPOSE = ("requests", "soupsieve", "chardet", "urllib.request", "importlib.metadata")


class _DeferredModule(types.ModuleType):
    """A module whose code runs at the first attribute read other than ``__spec__``/``__name__``."""

    def __getattribute__(self, attr: str) -> object:
        if attr in _IMPORT_READS:
            return super().__getattribute__(attr)
        with _lock:
            if type(self) is _DeferredModule:  # not loaded by another thread meanwhile
                spec: ModuleSpec = super().__getattribute__("__spec__")
                object.__setattr__(self, "__class__", types.ModuleType)  # from here on an ordinary module
                try:
                    assert spec.loader is not None  # checked when deferred
                    spec.loader.exec_module(self)
                except BaseException:
                    sys.modules.pop(spec.name, None)  # as a failed import leaves it: not imported
                    raise
        return getattr(self, attr)


#: What the import statement reads of a module already in ``sys.modules``.
_IMPORT_READS = frozenset({"__spec__", "__name__", "__class__"})
_lock = threading.RLock()  # re-entrant: a module's own code may import itself


def defer_unused_imports(names: tuple[str, ...] = UNUSED_ON_COMPOSE) -> None:
    """Make each of ``names`` that is installed and not yet imported a deferred module.

    Call it before importing premailer or mjml. A name already imported (for
    real or deferred) or not installed is left as it is, so this is idempotent
    and an absent optional module still raises ``ImportError`` where it is imported.
    """
    with _lock:
        for name in names:
            if name in sys.modules:
                continue
            spec = importlib.util.find_spec(name)
            if spec is None or spec.loader is None:
                continue
            module = importlib.util.module_from_spec(spec)
            module.__class__ = _DeferredModule
            sys.modules[name] = module
            parent, _, child = name.rpartition(".")
            if parent:  # as an import would: the package gets its submodule as an attribute
                setattr(sys.modules[parent], child, module)
