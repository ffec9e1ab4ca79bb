"""The web application: ``create_app(settings)`` builds the FastAPI app that ``idc serve`` runs.

One router per service (fdsnws-event, fdsnws-station, fdsnws-dataselect); later routers
(accounts, subscriptions, IMS1.0 requests, alerts, web UI) are added in :func:`create_app` the
same way. Every router reads the store through :class:`ServiceState` (``request.app.state.idc``)
and takes the caller as the :func:`pipeline.service.auth.current_principal` dependency.

Errors: an :class:`~pipeline.service.fdsn.params.FDSNError` (and FastAPI's own validation and
routing errors) become FDSN error documents (text/plain, ``Error <code>: …``, REFERENCE.md
§8.2); an unexpected exception is logged as one line (class and first line of its message; for
store errors the database's message, never the SQL statement or its parameters) and answered
with a 500 document — bad input never causes one, as every parameter is checked before use.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.service.fdsn.params import FDSNError, error_body
from pipeline.settings import Settings
from pipeline.store.db import DatabaseError, short_error

log = logging.getLogger("pipeline.service")


class ServiceState:
    """What the routers share: settings, the store's session factory and cached metadata."""

    def __init__(self, settings: Settings):
        from pipeline.store.db import ensure_schema, get_engine, session_factory

        self.settings = settings
        ensure_schema(settings.database_url)
        self.engine = get_engine(settings.database_url)
        self.sessions = session_factory(settings.database_url)
        self.archive_dir = Path(settings.archive_dir)
        self._inv_lock = threading.Lock()
        self._inv = None
        self._inv_key = None

    def session(self):
        return self.sessions()

    def file_inventory(self):
        """The StationXML of ``stations.paths`` merged (responses), cached until a file changes."""
        from pipeline.stations.inventory import iter_station_files

        files = [f for f in iter_station_files(self.settings.station_paths()) if f.suffix.lower() == ".xml"]
        key = tuple((str(f), f.stat().st_mtime_ns) for f in files)
        with self._inv_lock:
            if self._inv is None or key != self._inv_key:
                from pipeline.tasks import station_inventory

                self._inv = station_inventory(self.settings)
                self._inv_key = key
            return self._inv


def _service_of(path: str) -> str:
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "fdsnws":
        return parts[1]
    return ""


#: characters of a POST body echoed in an error document
ECHO_CHARS = 4000


async def _body_head(request: Request) -> str:
    """The first :data:`ECHO_CHARS` bytes of a body nobody read (the rest is never read)."""
    head = b""
    try:
        async for chunk in request.stream():
            head += chunk
            if len(head) >= ECHO_CHARS:
                break
    except Exception:  # the client went away or sent a broken body: what arrived is echoed
        pass
    return head[:ECHO_CHARS].decode("utf-8", "replace")


async def _request_text(request: Request) -> str:
    text = str(request.url)
    if request.method == "POST":
        body = getattr(request.state, "body_text", None)
        if body is None:
            body = await _body_head(request)
        text += "\n" + body[:ECHO_CHARS]
    return text


async def fdsn_error_response(request: Request, status: int, message: str) -> PlainTextResponse:
    service = _service_of(request.url.path)
    body = error_body(status, message, service, await _request_text(request), datetime.now(timezone.utc))
    return PlainTextResponse(body, status_code=status)


def create_app(settings: Settings) -> FastAPI:
    """Build the app over ``settings.database_url`` and ``settings.archive_dir``."""
    from pipeline import __version__
    from pipeline.service import alerts, autodrm, open_data, radionuclide, ui
    from pipeline.service.auth import install as install_access
    from pipeline.service.fdsn import dataselect, event, station

    app = FastAPI(title="idc-pipeline web services", version=__version__,
                  description="FDSN web services (fdsnws-event 1.2, fdsnws-station 1.1, fdsnws-dataselect 1.1), "
                              "IMS1.0 request messages, CAP/GeoJSON alert feeds, open data exports and the web "
                              "UI over the IDC store and SDS archive.")
    app.state.idc = ServiceState(settings)
    app.include_router(event.router, prefix="/fdsnws/event/1")
    app.include_router(station.router, prefix="/fdsnws/station/1")
    app.include_router(dataselect.router, prefix="/fdsnws/dataselect/1")
    app.include_router(autodrm.router, prefix="/ims1")
    app.include_router(alerts.router, prefix="/alerts")
    app.include_router(open_data.router, prefix="/open")
    app.include_router(radionuclide.router, prefix="/radionuclide/1")  # samples, RRR, spectra
    app.include_router(ui.router)  # web UI at / (browsers) and /ui/
    install_access(app, settings)  # accounts, access policy, rate limits, download audit
    event.install_index(app)  # fdsnws-event's in-memory index, built at startup

    @app.exception_handler(FDSNError)
    async def _fdsn_error(request: Request, exc: FDSNError):
        resp = await fdsn_error_response(request, exc.status, exc.message)
        if exc.status == 401:  # Digest (+ Basic) challenges of FDSN queryauth, before the Bearer one
            from pipeline.service.auth import challenges

            for value in challenges(request):
                resp.headers.append("WWW-Authenticate", value)
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        msgs = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "body"))
            msgs.append(f"parameter '{loc}': {e.get('msg')}" if loc else str(e.get("msg")))
        return await fdsn_error_response(request, 400, "; ".join(msgs) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        msg = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and msg == "Not Found":
            msg = f"No such resource: {request.url.path}"
        return await fdsn_error_response(request, exc.status_code, msg)

    @app.exception_handler(DatabaseError)
    async def _store_error(request: Request, exc: DatabaseError):
        # one line, no statement: SQLAlchemy's text holds the SQL and its parameters. (A handler
        # of this class, unlike the catch-all below, is not re-raised to the server's own log.)
        log.error("store error serving %s %s: %s", request.method, request.url.path, short_error(exc))
        return await fdsn_error_response(request, 500, f"Internal error ({type(exc).__name__}); the "
                                                       "operators have been told in the service log.")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("unexpected error serving %s %s: %s", request.method, request.url.path, short_error(exc))
        return await fdsn_error_response(request, 500, f"Internal error ({type(exc).__name__}); the "
                                                       "operators have been told in the service log.")

    return app


def base_url(request: Request, service: str) -> str:
    """``<public base>/fdsnws/<service>/1/`` (``[service] base_url`` or the request's own)."""
    st: ServiceState = request.app.state.idc
    root = st.settings.service.base_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{root}/fdsnws/{service}/1/"


def create_app_from_environment() -> FastAPI:
    """App factory for uvicorn worker processes: settings from ``$IDC_CONFIG`` and the environment."""
    from pipeline.settings import load_settings

    return create_app(load_settings())
