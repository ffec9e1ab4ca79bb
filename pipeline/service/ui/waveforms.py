"""The web UI's waveforms endpoints (included in :data:`pipeline.service.ui.router`)."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["web UI"])
