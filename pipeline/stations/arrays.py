"""Which stations are elements of an array: station metadata (+ configuration) -> array code.

An IMS array arrives as its elements, each an ordinary station of the StationXML (ARCES:
``IM.ARA0``, ``IM.ARA1``, ... ``IM.ARD9``; ``idc simulate waveforms``: ``WRA00`` ... ``WRA08``).
The automatic chain processes the elements of one array together, as one station under the
array code (:mod:`pipeline.array`), as the IDC does. A station is an element of array ``CODE``
when, in this order:

1. the configuration says so: ``[array] elements`` maps an array code to element station codes
   or ``fnmatch`` patterns (``{ARCES = ["AR[A-E][0-9]"], FINES = ["FI*"]}``; a pattern with a dot
   is matched against ``NET.STA``). This is for metadata that does not say (e.g. a StationXML of
   the IMS elements from an FDSN service), and it also names elements the metadata lacks (they
   then fail with "no coordinates");
2. its StationXML ``Station`` description (or its ``Site`` description) reads
   ``element of array CODE`` - what ``idc simulate waveforms`` writes; the IDC's CSS3.0 site
   table says the same with ``refsta`` = CODE and ``statype = ar``.

Every other station is a single (3-C) station. Nothing here guesses from code prefixes: ``FIA0``
and ``FIN`` could be anything.
"""
from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from typing import Iterable, Mapping, Sequence

from obspy import Inventory

#: the element statement of a station description (case-insensitive): the array code follows
ELEMENT_DESCRIPTION = re.compile(r"\belement of (?:the )?array\s+([A-Za-z0-9]{1,8})\b", re.IGNORECASE)


def described_array(station) -> str | None:
    """The array code an obspy ``Station`` declares itself an element of (rule 2), else None."""
    texts = [station.description, station.site.description if station.site is not None else None]
    for text in texts:
        m = ELEMENT_DESCRIPTION.search(text or "")
        if m:
            return m.group(1).upper()
    return None


def _configured(net: str, sta: str, elements: Mapping[str, Sequence[str]]) -> str | None:
    for code, patterns in elements.items():
        for p in patterns:
            if fnmatch.fnmatchcase(f"{net}.{sta}" if "." in p else sta, p):
                return code
    return None


def array_elements(inventory: Inventory | None, elements: Mapping[str, Sequence[str]] | None = None,
                   stations: Iterable[tuple[str, str]] | None = None) -> dict[tuple[str, str], str]:
    """``(network, station) -> array code`` for every array element (rules in the module doc).

    :param inventory: station metadata (None: only the configured ``elements`` apply)
    :param elements: ``[array] elements``: array code -> element station codes / patterns
    :param stations: the ``(network, station)`` pairs to classify (e.g. those of the data);
        default: every station of ``inventory``
    """
    elements = dict(elements or {})
    described: dict[tuple[str, str], str] = {}
    if inventory is not None:
        for net in inventory:
            for sta in net:
                code = described_array(sta)
                if code:
                    described[(net.code, sta.code)] = code
    keys = set(stations) if stations is not None else {(n.code, s.code) for n in inventory or [] for s in n}
    out = {}
    for net, sta in keys:
        code = _configured(net, sta, elements) or described.get((net, sta))
        if code:
            out[(net, sta)] = code
    return out


def arrays_of(members: Mapping[tuple[str, str], str]) -> dict[str, list[tuple[str, str]]]:
    """The inverse of :func:`array_elements`: array code -> its element ``(network, station)``
    pairs, sorted."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, code in members.items():
        out[code].append(key)
    return {k: sorted(v) for k, v in sorted(out.items())}
