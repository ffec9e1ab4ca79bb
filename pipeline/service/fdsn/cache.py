"""Answer caches of fdsnws-event, invalidated by the store's product generation.

The answers of fdsnws-event depend only on the parameters, on who asks (the access class:
roles, State, unrestricted) and on the products in the store. Products are only ever added
(a new version), re-written by an identical re-run (``product.runs`` and ``product.created``
change) or deleted, so the tuple ``(max(id), count(*), sum(runs), max(created))`` of the
``product`` table — one cheap aggregate, read at most every ``[service]
event_generation_check_s`` seconds per process (:mod:`.index`) — changes whenever an answer could.
Every cache entry remembers the generation it was computed under and is dropped when the
generation differs; entries also expire after :data:`TTL_S` seconds because the public rule
of the access policy (``[access.public_events] min_age_days``) depends on the clock.

Two caches per store (per ``ServiceState``):

* ``responses``: the bytes of 200 answers of ``query`` (QuakeML or text) keyed by the sorted
  query parameters and the access class. A cached QuakeML answer keeps the ``creationTime``
  of the document it was first written as (the answer is the same document).
* ``ranks``: the event ranks (public event ids) of a whole product, keyed by product id.
* ``newest``: the ids of the newest version of every (type, window): the event query then
  selects ``product.id IN (…)`` instead of a per-row "no newer version" anti-join, which
  PostgreSQL planned as a sequential scan of ``product`` per candidate origin (24 ms of a
  7-day query with 1 000 products).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from pipeline.store import events as store_events
from pipeline.store.events import GENERATION_SQL, generation_value  # noqa: F401  (re-exported)

#: seconds an entry is kept at most (the public rule's clock dependence)
TTL_S = 30.0
#: entries and bytes of the response cache
MAX_RESPONSES = 2048
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: largest single answer cached (bytes)
MAX_ONE_RESPONSE = 2 * 1024 * 1024
#: products whose ranks are kept
MAX_PRODUCTS = 20000


class LRU:
    """A thread-safe LRU of ``key → (generation, t, size, value)`` bounded by entries and bytes."""

    def __init__(self, max_entries: int, max_bytes: int | None = None, ttl_s: float = TTL_S):
        self.max_entries, self.max_bytes, self.ttl_s = max_entries, max_bytes, ttl_s
        self._d: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key, generation) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._d.get(key)
            if hit is None or hit[0] != generation or now - hit[1] > self.ttl_s:
                if hit is not None:
                    self._pop(key)
                self.misses += 1
                return None
            self._d.move_to_end(key)
            self.hits += 1
            return hit[3]

    def put(self, key, generation, value, size: int = 0) -> None:
        with self._lock:
            if key in self._d:
                self._pop(key)
            self._d[key] = (generation, time.monotonic(), size, value)
            self._bytes += size
            while self._d and (len(self._d) > self.max_entries
                               or (self.max_bytes is not None and self._bytes > self.max_bytes)):
                self._pop(next(iter(self._d)))

    def _pop(self, key) -> None:
        entry = self._d.pop(key)
        self._bytes -= entry[2]

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
            self._bytes = 0


class EventCaches:
    """The caches of one store."""

    def __init__(self):
        self.responses = LRU(MAX_RESPONSES, MAX_RESPONSE_BYTES)
        self.ranks = LRU(MAX_PRODUCTS)
        self.newest = LRU(64)


_caches: dict[str, EventCaches] = {}
_lock = threading.Lock()


def caches_of(state) -> EventCaches:
    """The caches of a ``ServiceState`` (created on first use)."""
    c = getattr(state, "_event_caches", None)
    if c is None:
        with _lock:
            c = getattr(state, "_event_caches", None)
            if c is None:
                c = state._event_caches = EventCaches()
    return c


# the product generation (see the module docstring) is read by the store
# (pipeline.store.events: GENERATION_SQL, generation_value, GenerationReader)


def generation(session) -> tuple:
    """The product generation of the store (see the module docstring)."""
    return store_events.product_generation(session)


def newest_product_ids(session, caches: "EventCaches", gen) -> dict[str, list[int]]:
    """product type → ids of the newest version of each of its windows (cached per generation)."""
    got = caches.newest.get("newest", gen)
    if got is None:
        got = store_events.newest_product_ids(session)
        caches.newest.put("newest", gen, got)
    return got


def newest_ids_for(session, caches: "EventCaches", gen, types) -> tuple[list[int], str]:
    """(sorted ids of the newest versions of ``types``, the same as a PostgreSQL array literal)."""
    key = ("types", tuple(types))
    got = caches.newest.get(key, gen)
    if got is None:
        by_type = newest_product_ids(session, caches, gen)
        ids = sorted(i for t in types for i in by_type.get(t, ()))
        got = (ids, "{" + ",".join(map(str, ids)) + "}")
        caches.newest.put(key, gen, got)
    return got


def product_rows(session, caches: "EventCaches", gen) -> dict[int, dict]:
    """product id → its ``type``, ``window_start``, ``window_end``, ``version``, ``created``."""
    got = caches.newest.get("rows", gen)
    if got is None:
        got = store_events.product_table(session)
        caches.newest.put("rows", gen, got)
    return got


def access_class(principal) -> tuple:
    """What of the principal the answers depend on (the policy decides by roles and State)."""
    return (bool(principal.unrestricted), tuple(principal.roles), principal.state)
