"""Disaster-management feeds: CAP 1.2 alerts and a GeoJSON feed of tsunami-relevant events
(:func:`alerts_for_product`), written to ``$IDC_HOME/products/alerts/`` and served at
``/alerts/cap`` and ``/alerts/feed.geojson``; open exports for scientists (:mod:`pipeline.alerts.open_data`:
Parquet catalogue, NetCDF waveforms)."""
from pipeline.alerts.feed import alerts_dir, alerts_for_catalog, alerts_for_product

__all__ = ["alerts_dir", "alerts_for_catalog", "alerts_for_product"]
