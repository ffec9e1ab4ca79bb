"""Build the bundled land/coastline data (``pipeline/geo/data/land_*.npz``) from Natural Earth TopoJSON.

This runs at development time only; the pipeline never downloads anything at run or test time.

Source: the npm package ``world-atlas@2.0.2`` (ISC licence, https://github.com/topojson/world-atlas),
a redistribution of Natural Earth v4.1.0 land polygons (public domain,
https://www.naturalearthdata.com/about/terms-of-use/) as quantised TopoJSON. Reproduce with::

    cd /tmp && npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python -m pipeline.geo.build_coast /tmp/package pipeline/geo/data

TopoJSON decoding follows the TopoJSON specification
(https://github.com/topojson/topojson-specification, sections 2.1.2 "Transforms" and 2.2 "Arcs"):
arcs are delta-encoded integer positions; position = cumulative sum of deltas, then
``lon = x * scale[0] + translate[0]``, ``lat = y * scale[1] + translate[1]``; in a geometry an arc
index ``i < 0`` means arc ``~i`` reversed; consecutive arcs of a ring share their joining point.

The output keeps the quantised integers (lossless with respect to the source) in a compressed ``.npz``:

* ``xy`` (N, 2) int32 — absolute quantised positions of every ring vertex, rings one after another,
  each ring closed (first vertex repeated at the end);
* ``ring_start`` (R + 1,) int64 — ring ``r`` is ``xy[ring_start[r]:ring_start[r + 1]]``;
* ``ring_polygon`` (R,) int32 — index of the polygon a ring belongs to;
* ``ring_is_hole`` (R,) bool — False for a polygon's exterior ring (the first one), True for holes;
* ``scale``, ``translate`` (2,) float64 — the TopoJSON transform.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

RESOLUTIONS = ("50m", "110m")


def decode_arcs(topology: dict) -> list[np.ndarray]:
    """Decode the delta-encoded arcs of a quantised topology into absolute integer positions."""
    if "transform" not in topology:
        raise ValueError("TopoJSON topology has no 'transform': only quantised topologies are supported")
    return [np.cumsum(np.asarray(arc, dtype=np.int64), axis=0) for arc in topology["arcs"]]


def ring_positions(arc_ids: list[int], arcs: list[np.ndarray]) -> np.ndarray:
    """Stitch a ring from arc indices (negative = reversed arc ``~i``), dropping shared joining points."""
    parts = []
    for k, i in enumerate(arc_ids):
        a = arcs[i] if i >= 0 else arcs[~i][::-1]
        parts.append(a if k == 0 else a[1:])
    ring = np.concatenate(parts, axis=0)
    if not np.array_equal(ring[0], ring[-1]):
        ring = np.vstack([ring, ring[:1]])
    return ring


def polygons_of(topology: dict, object_name: str = "land") -> list[list[list[int]]]:
    """All polygons (each a list of rings, each a list of arc indices) of a TopoJSON object."""
    obj = topology["objects"][object_name]
    geoms = obj["geometries"] if obj["type"] == "GeometryCollection" else [obj]
    out = []
    for g in geoms:
        if g["type"] == "Polygon":
            out.append(g["arcs"])
        elif g["type"] == "MultiPolygon":
            out.extend(g["arcs"])
        elif g.get("type") is not None:
            raise ValueError(f"unexpected geometry type {g['type']!r} in object {object_name!r}")
    return out


def build(topojson_path: Path, out_path: Path) -> dict:
    """Convert one ``land-*.json`` TopoJSON file to the bundled ``.npz`` layout; returns a summary."""
    topology = json.loads(Path(topojson_path).read_text())
    arcs = decode_arcs(topology)
    xy, ring_start, ring_polygon, ring_is_hole = [], [0], [], []
    for p, rings in enumerate(polygons_of(topology)):
        for r, arc_ids in enumerate(rings):
            ring = ring_positions(arc_ids, arcs)
            xy.append(ring)
            ring_start.append(ring_start[-1] + len(ring))
            ring_polygon.append(p)
            ring_is_hole.append(r > 0)
    xy_all = np.concatenate(xy).astype(np.int32)
    tr = topology["transform"]
    np.savez_compressed(out_path, xy=xy_all, ring_start=np.asarray(ring_start, dtype=np.int64),
                        ring_polygon=np.asarray(ring_polygon, dtype=np.int32),
                        ring_is_hole=np.asarray(ring_is_hole, dtype=bool),
                        scale=np.asarray(tr["scale"], dtype=np.float64),
                        translate=np.asarray(tr["translate"], dtype=np.float64))
    return {"file": str(out_path), "vertices": len(xy_all), "rings": len(ring_polygon),
            "polygons": (max(ring_polygon) + 1) if ring_polygon else 0, "bytes": Path(out_path).stat().st_size}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m pipeline.geo.build_coast WORLD_ATLAS_PACKAGE_DIR OUT_DIR", file=sys.stderr)
        return 2
    src, dst = Path(argv[0]), Path(argv[1])
    dst.mkdir(parents=True, exist_ok=True)
    for res in RESOLUTIONS:
        f = src / f"land-{res}.json"
        if not f.is_file():
            print(f"missing {f}", file=sys.stderr)
            return 1
        print(build(f, dst / f"land_{res}.npz"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
