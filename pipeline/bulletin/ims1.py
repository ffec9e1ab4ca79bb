"""IMS1.0 short bulletin: moved to :mod:`pipeline.io.ims1` (this module re-exports it)."""
from pipeline.io.columns import FormatError  # noqa: F401
from pipeline.io.ims1 import (  # noqa: F401
    MAGNITUDE_COLUMNS,
    MAGNITUDE_HEADER,
    ORIGIN_COLUMNS,
    ORIGIN_HEADER,
    PHASE_COLUMNS,
    PHASE_HEADER,
    ims1_time,
    read_ims1,
    render_line as render,
    write_ims1,
)
