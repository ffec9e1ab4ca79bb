"""Analyst review: SEL3 events → review queue → audited edits → REB product versions.

Library API (the CLI ``idc review …``, the DAG tasks and the HTTP API call these), in
:mod:`pipeline.review.queue`: ``enqueue``, ``list_queue``, ``show``, ``accept``, ``reject``,
``edit``, ``relocate``, ``merge``, ``split``, ``comment``, ``publish``, ``load_reb``; Event
Definition Criteria: :func:`pipeline.review.edc.evaluate_edc`. Names are imported lazily so that
:mod:`pipeline.settings` can import :mod:`pipeline.review.config` cheaply.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "EdcResult": "edc", "evaluate_edc": "edc", "ReviewError": "edits",
    **{n: "queue" for n in ("accept", "comment", "edit", "enqueue", "event_of", "list_queue", "load_reb",
                            "merge", "publish", "reject", "relocate", "show", "split")},
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"pipeline.review.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'pipeline.review' has no attribute {name!r}")
