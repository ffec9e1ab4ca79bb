"""Event screening: REB → SEB (event characterisation parameters) → SSEB (screening criteria as
configured data, outcome per event and criterion).

:mod:`pipeline.screening.criteria` (pure: ``characterize``, ``screen_event``, one function per
criterion), :mod:`pipeline.screening.run` (store: ``screen``, ``load_screening``),
:mod:`pipeline.screening.config` (``[screening]``). Names are imported lazily so that
:mod:`pipeline.settings` can import the config module cheaply.
"""
from __future__ import annotations

import importlib

_EXPORTS = {"characterize": "criteria", "screen_event": "criteria", "screen": "run",
            "load_screening": "run"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"pipeline.screening.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'pipeline.screening' has no attribute {name!r}")
