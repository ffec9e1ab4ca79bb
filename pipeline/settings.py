"""Configuration loading: TOML files + environment overrides → frozen, typed settings.

The only module of the library that reads files, the environment or the clock for
configuration purposes (DESIGN.md, convention 2).

Resolution order (later wins):

1. the package's ``pipeline/config/default.toml`` (package data, always loaded: it documents every
   key and its default; ``config/default.toml`` of the repository is a link to it);
2. the selected file (``--config FILE`` or ``IDC_CONFIG``), deep-merged on top;
3. environment overrides: ``IDC_HOME``, ``IDC_DATABASE_URL``, ``IDC_DASK_SCHEDULER`` and the
   generic form ``IDC__SECTION__KEY=value`` (value parsed as a TOML literal when it is one,
   otherwise taken as a string), e.g. ``IDC__INGEST__ON_CONFLICT=keep_archive``.

Relative paths of the configuration (``[stations] paths``, ``[traveltime] model``, ``[demo] data``)
are read from ``root`` (``IDC_ROOT``; default: the current folder when the configuration is loaded),
never from where the package is installed.

A bad value raises :class:`ConfigError` naming the key and the file (or variable) it came from.
"""
from __future__ import annotations

import hashlib
import json
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Mapping, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# stage configurations live with their stages (small pydantic modules)
from pipeline.accounts.config import AccessConfig, SubscriptionsConfig
from pipeline.alerts.config import AlertsConfig
from pipeline.association.config import AssociatorConfig
from pipeline.autodrm.config import AutoDRMConfig
from pipeline.errors import ConfigError  # noqa: F401  (raised here; importable from here as before)
from pipeline.hydroacoustic.config import HydroacousticConfig
from pipeline.infrasound.config import InfrasoundConfig
from pipeline.location.config import LocatorConfig
from pipeline.magnitude.config import MagnitudeConfig
from pipeline.radionuclide.config import RadionuclideConfig
from pipeline.review.config import ReviewConfig
from pipeline.screening.config import ScreeningConfig

#: the documented defaults, shipped inside the package (package data of ``pipeline``)
DEFAULT_CONFIG = Path(str(resources.files("pipeline").joinpath("config", "default.toml")))

#: environment variables with a dedicated meaning (besides the generic IDC__SECTION__KEY form)
ENV_SHORTCUTS = {
    "IDC_HOME": ("home",),
    "IDC_ROOT": ("root",),
    "IDC_DATABASE_URL": ("store", "database_url"),
    "IDC_DASK_SCHEDULER": ("dask", "scheduler"),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _NestedErrors(ValueError):
    """Errors of a value validated by another model (e.g. ``[detection] overrides`` against
    :class:`~pipeline.detection.DetectionConfig`): ``errors`` = [(location inside the value,
    message)]; :func:`load_settings` names each key under the key of the value, with its source."""

    def __init__(self, errors: list[tuple[tuple, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors))


def _nested(exc: ValidationError, model: str) -> _NestedErrors:
    return _NestedErrors([(tuple(e["loc"]), f"unknown key (typo? not a {model} field)" if e["type"] == "extra_forbidden"
                          else e["msg"]) for e in exc.errors(include_url=False)])


class StoreConfig(_Frozen):
    #: SQLAlchemy URL; empty means the embedded SQLite file ``$IDC_HOME/idc.sqlite``
    database_url: str = ""
    #: log every SQL statement (debugging)
    echo: bool = False
    #: connecting to a database server that is not accepting connections yet ("the database system
    #: is starting up", connection refused, too many clients): attempts before giving up with a
    #: one-line error (1 = no waiting); the wait after the first failure, doubled after each next
    #: one up to ``connect_max_backoff_s``. Defaults 8 / 0.5 s / 8 s: about 30 s in all.
    connect_attempts: int = Field(8, ge=1, le=1000)
    connect_backoff_s: float = Field(0.5, gt=0, le=600)
    connect_max_backoff_s: float = Field(8.0, gt=0, le=3600)


class StationsConfig(_Frozen):
    #: StationXML / station CSV files or folders loaded by ``idc stations load`` without arguments;
    #: relative paths are relative to ``root``
    paths: tuple[str, ...] = ("stations",)
    #: network code given to data without one (GSE2, CSS3.0) whose station code is not unique in
    #: the metadata; empty = such data is rejected with a clear error
    default_network: str = ""


class IngestConfig(_Frozen):
    #: folder scanned by the ingest DAG (empty = none; relative paths are under the IDC home)
    drop_dir: str = ""
    #: SDS data type letter (D = waveform data)
    sds_type: str = Field("D", min_length=1, max_length=1)
    #: miniSEED record length written to the archive, bytes
    record_length: Literal[512, 1024, 2048, 4096, 8192] = 4096
    #: encoding for integer samples; float samples keep FLOAT32/FLOAT64
    integer_encoding: Literal["STEIM2", "STEIM1", "INT32"] = "STEIM2"
    #: reject channels that are not in the station metadata (site/sitechan)
    require_metadata: bool = True
    #: what to do when new samples overlap archived samples with different values:
    #: quarantine the file (default), keep the archived samples, or replace them with the new ones
    on_conflict: Literal["quarantine", "keep_archive", "replace"] = "quarantine"
    #: relative tolerance when comparing sampling rates (same channel, same day)
    samplerate_tolerance: float = Field(1e-4, gt=0, lt=0.1)
    #: where the ingest DAG moves drop-folder files once they are archived or quarantined
    #: (relative = under the IDC home; empty = leave them in the drop folder)
    processed_dir: str = "processed"
    #: float samples that are NaN or ±Inf: quarantine the input (default) or store them as gaps
    non_finite: Literal["quarantine", "gap"] = "quarantine"
    #: samples held in memory per ingest batch before merged day files are written to the
    #: archive's staging folder (bounds memory whatever the input size)
    memory_samples: int = Field(20_000_000, ge=100_000)
    #: glob patterns skipped when a folder is ingested
    ignore_patterns: tuple[str, ...] = ("*.txt", "*.csv", "*.md", "*.xml", "*.json", ".*", "*.event", "*.events",
                                        "*.picks", "*.pick", "*.amps", "*.amp", "*.log", "*.pdf", "*.png")
    #: station code renames applied before anything else ({"TESTbe" = "TESTB"}); miniSEED 2 (and
    #: so the SDS archive) holds at most 5-character station codes, CSS3.0 allows 6
    station_aliases: dict[str, str] = {}
    #: SeedLink server host:port for the ingest DAG (empty = none)
    seedlink_server: str = ""
    #: SeedLink stream selectors "NET STA LOC CHA"
    seedlink_streams: tuple[str, ...] = ()
    #: FDSN dataselect base URL for the ingest DAG (empty = none)
    fdsn_url: str = ""

    @field_validator("sds_type")
    @classmethod
    def _upper(cls, v: str) -> str:
        if v not in "DELTCRO":
            raise ValueError("SDS type must be one of D, E, L, T, C, R, O")
        return v


class DetectionSettings(_Frozen):
    """``[detection]``: a preset of station processing plus overrides.

    ``"auto"`` (default) chooses the scales per station from the data
    (:class:`pipeline.detection.AutoDetection`: local-network scales for a station whose nearest
    neighbour is within ``local_max_spacing_km``, or, without station coordinates, sampled at
    ``local_min_sampling_rate_hz`` or faster; regional scales otherwise). ``"default"`` (the
    fixed regional/teleseismic configuration, :class:`pipeline.detection.DetectionConfig`) and
    ``"local"`` (dense local networks, tuned on the Iceland demo) force one set for all
    stations."""

    #: "auto", "default" (regional/teleseismic IDC data) or "local" (dense local networks, 100 Hz)
    preset: Literal["auto", "default", "local"] = "auto"
    #: "auto": a station whose nearest neighbour is at most this far (km) is a local-network one
    local_max_spacing_km: float = Field(50.0, gt=0)
    #: "auto", no station coordinates: sampling rates (Hz) from which a station is local
    local_min_sampling_rate_hz: float = Field(80.0, gt=0)
    #: any DetectionConfig field, e.g. {trigger_on = 4.5, chunk_s = 1800} (checked when the
    #: configuration is loaded: a mistyped key or a bad value names the key and its file)
    overrides: dict[str, Any] = {}

    @field_validator("overrides")
    @classmethod
    def _v_overrides(cls, v: dict[str, Any], info) -> dict[str, Any]:
        if not v:
            return v
        from pipeline.detection.config import AutoDetection, DetectionConfig

        preset = info.data.get("preset", "auto")
        try:
            if preset == "auto":
                AutoDetection(overrides=dict(v))
            elif preset == "local":
                DetectionConfig.local(**v)
            else:
                DetectionConfig(**v)
        except ValidationError as exc:
            raise _nested(exc, "DetectionConfig") from None
        return v

    def build(self):
        from pipeline.detection import AutoDetection, DetectionConfig

        if self.preset == "auto":
            return AutoDetection(local_max_spacing_km=self.local_max_spacing_km,
                                 local_min_sampling_rate_hz=self.local_min_sampling_rate_hz,
                                 overrides=dict(self.overrides))
        if self.preset == "local":
            return DetectionConfig.local(**self.overrides)
        return DetectionConfig(**self.overrides)


class ArraySettings(_Frozen):
    """``[array]``: seismic arrays in the automatic chain (:func:`pipeline.array.detect_network`).

    Elements of an array (:mod:`pipeline.stations.arrays`: ``elements`` below, or a StationXML
    station described as ``element of array CODE``) are processed together as one station under
    the array code; the parameters are chosen per array from its sampling rate and aperture
    (:class:`pipeline.array.AutoArray`), ``overrides`` win."""

    #: process arrays as arrays (False: every element as a single station, as before issue 16)
    enabled: bool = True
    #: array code -> element station codes or fnmatch patterns, e.g. {ARCES = ["AR[A-E][0-9]"]}
    elements: dict[str, tuple[str, ...]] = {}
    #: any ArrayConfig field, e.g. {band_hz = [1.0, 4.0], trigger_on = 5.0} (checked at load time)
    overrides: dict[str, Any] = {}
    #: array data per parallel task, s (each read with the configuration's padding on both sides)
    chunk_s: float = Field(3600.0, gt=0)
    #: largest number of beams of one array (AutoArray)
    max_beams: int = Field(400, ge=1, le=100000)

    @field_validator("elements")
    @classmethod
    def _v_elements(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for code, patterns in v.items():
            if not code.isalnum() or len(code) > 8:
                raise ValueError(f"array code {code!r}: letters and digits, at most 8")
            if not patterns or any(not str(p).strip() for p in patterns):
                raise ValueError(f"array {code}: give element station codes or patterns")
        return v

    @field_validator("overrides")
    @classmethod
    def _v_overrides(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not v:
            return v
        from pipeline.array.config import ArrayConfig

        try:
            ArrayConfig(**v)
        except ValidationError as exc:
            raise _nested(exc, "ArrayConfig") from None
        return v

    def build(self):
        """The :class:`pipeline.array.AutoArray` of these settings."""
        from pipeline.array.config import AutoArray

        return AutoArray(overrides=dict(self.overrides), max_beams=self.max_beams)


#: default table phases of built-in global models (see TravelTimeSettings.phases)
GLOBAL_TABLE_PHASES = ("P", "S", "Pg", "Lg", "PKP")


class TravelTimeSettings(_Frozen):
    """``[traveltime]``: the Earth model the chain uses."""

    #: obspy built-in model ("ak135", "iasp91") or a Depth,Vp,Vs velocity file (relative paths
    #: are relative to ``root``)
    model: str = "ak135"
    #: phases tabulated (names of pipeline.traveltime PHASE_GROUPS); "auto" = by model: the
    #: first-arriving P and S, the crustal Pg and Lg and the core phase PKP for built-in global
    #: models (what the associator hypothesises at regional and teleseismic distances), P and S
    #: for a local velocity file
    phases: Union[tuple[str, ...], Literal["auto"]] = "auto"
    #: largest distance of a local (velocity-file) table, deg
    local_max_distance_deg: float = Field(2.0, gt=0, le=20)
    #: velocity between the rows of a velocity file: "constant" (blocks) or "linear" (gradient
    #: to the next row, as QuakeMigrate/NonLinLoc read their files); see pipeline.traveltime.models
    model_interpolation: Literal["constant", "linear"] = "constant"

    def table_phases(self, model: str | None = None) -> tuple[str, ...]:
        """The phases to tabulate for ``model`` (default: the configured model)."""
        if self.phases != "auto":
            return tuple(self.phases)
        model = model or self.model
        if str(model).lower() in ("ak135", "iasp91", "prem", "jb"):
            return GLOBAL_TABLE_PHASES
        return ("P", "S")

    def model_path(self, root: Path | None = None) -> str:
        """The built-in model's name, or the velocity file's path (relative: under ``root``,
        default the current folder; :meth:`Settings.model_path` passes the configured root)."""
        if self.model.lower() in ("ak135", "iasp91", "prem", "jb"):
            return self.model
        return str(_resolve(self.model, root if root is not None else Path.cwd()))


class DemoConfig(_Frozen):
    """``[demo]``: ``idc demo`` / ``make demo``."""

    #: folder of the demo's data (``waveforms/`` miniSEED files, ``quakemigrate/`` reference
    #: solutions); relative = under ``root``. Not shipped with the package: the repository keeps
    #: it in tests/data/iceland (config/demo-iceland.toml sets it); empty = no demo data
    data: str = ""


class DaskConfig(_Frozen):
    #: address of an external Dask scheduler (tcp://host:8786); empty = local threads
    scheduler: str = ""
    #: threads for the local (in-process) executor
    threads: int = Field(2, ge=1, le=256)


class ServiceConfig(_Frozen):
    """``[service]``: the ``idc serve`` web service (FDSN web services)."""

    #: address and port ``idc serve`` binds to (loopback by default)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    #: uvicorn worker processes (each opens its own store connections)
    workers: int = Field(1, ge=1, le=64)
    #: public URL prefix of the service (e.g. https://idc.example.org) used in WADL documents and
    #: error bodies; empty = taken from each request
    base_url: str = ""
    #: agency code reported as contributor/author of the events (fdsnws-event ``contributor``)
    agency_id: str = "IDC"
    #: largest number of events one fdsnws-event query may return (more: HTTP 413)
    event_max_results: int = Field(20000, ge=1)
    #: fdsnws-event reads the store's product generation (has a product been written?) at most
    #: every this many seconds per server process; 0 = for every request (pipeline/service/fdsn/index.py)
    event_generation_check_s: float = Field(0.05, ge=0, le=60)
    #: largest request of one fdsnws-dataselect query, in channel-seconds (more: HTTP 413)
    dataselect_max_channel_seconds: float = Field(30 * 86400.0, gt=0)
    #: largest number of samples one fdsnws-dataselect query may return, counted from the
    #: archive's availability rows before anything is read (more: HTTP 413)
    dataselect_max_samples: int = Field(259_200_000, ge=1)
    #: miniSEED record length of fdsnws-dataselect responses (bytes)
    dataselect_record_length: Literal[512, 1024, 2048, 4096, 8192] = 4096
    #: largest body of an fdsnws-station/-dataselect POST request, bytes (more: HTTP 413, answered
    #: from the Content-Length header before the body is read)
    post_max_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    #: most lines of an fdsnws-station/-dataselect POST body (more: HTTP 413)
    post_max_lines: int = Field(100_000, ge=1)


#: configuration sections whose values change the automatic products (their hash is stored with
#: each product version; other sections — store, service, airflow, dask, ... — do not)
PROCESSING_SECTIONS = ("stations", "detection", "array", "traveltime", "association", "location", "magnitude")


class AirflowConfig(_Frozen):
    #: AIRFLOW_HOME for `idc airflow up` and the demo's in-process runs (empty = $IDC_HOME/airflow)
    home: str = ""
    #: Airflow metadata database (empty = SQLite in the Airflow home); PostgreSQL recommended for
    #: production: postgresql+psycopg://user:pass@host/airflow
    database_url: str = ""
    #: address the Airflow UI/API server of `idc airflow up` binds to (loopback; "0.0.0.0" = every interface)
    host: str = "127.0.0.1"
    #: port of the Airflow UI/API server started by `idc airflow up`
    port: int = Field(8081, ge=1, le=65535)
    #: AIRFLOW__CORE__PARALLELISM (keep low on small machines)
    parallelism: int = Field(4, ge=1, le=1024)
    #: new DAGs start paused (operators unpause what they run)
    paused_at_creation: bool = True
    #: Airflow log level for in-process runs (demo, tests)
    log_level: str = "WARNING"


class Settings(_Frozen):
    """All configuration of one run. Build it with :func:`load_settings`."""

    #: environment name (informational, e.g. "default", "demo-iceland")
    name: str = "default"
    #: working folder holding the store, archive, quarantine, caches and products
    home: Path = Path("var")
    #: folder the relative paths of the configuration are read from (empty or relative: under
    #: the current folder when the configuration is loaded; IDC_ROOT)
    root: Path = Path(".")
    store: StoreConfig = StoreConfig()
    stations: StationsConfig = StationsConfig()
    ingest: IngestConfig = IngestConfig()
    dask: DaskConfig = DaskConfig()
    detection: DetectionSettings = DetectionSettings()
    array: ArraySettings = ArraySettings()
    infrasound: InfrasoundConfig = InfrasoundConfig()
    hydroacoustic: HydroacousticConfig = HydroacousticConfig()
    traveltime: TravelTimeSettings = TravelTimeSettings()
    association: AssociatorConfig = AssociatorConfig()
    location: LocatorConfig = LocatorConfig()
    magnitude: MagnitudeConfig = MagnitudeConfig()
    review: ReviewConfig = ReviewConfig()
    screening: ScreeningConfig = ScreeningConfig()
    airflow: AirflowConfig = AirflowConfig()
    service: ServiceConfig = ServiceConfig()
    autodrm: AutoDRMConfig = AutoDRMConfig()
    alerts: AlertsConfig = AlertsConfig()
    access: AccessConfig = AccessConfig()
    subscriptions: SubscriptionsConfig = SubscriptionsConfig()
    radionuclide: RadionuclideConfig = RadionuclideConfig()
    demo: DemoConfig = DemoConfig()
    #: the files the values came from (informational)
    sources: tuple[str, ...] = ()

    # -- derived locations -------------------------------------------------------------------
    @property
    def database_url(self) -> str:
        return self.store.database_url or f"sqlite:///{(self.home / 'idc.sqlite').as_posix()}"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def products_dir(self) -> Path:
        return self.home / "products"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    def station_paths(self) -> list[Path]:
        return [_resolve(p, self.root) for p in self.stations.paths]

    def model_path(self) -> str:
        """``[traveltime] model``: a built-in model's name or the velocity file under ``root``."""
        return self.traveltime.model_path(self.root)

    def demo_data(self) -> Path:
        """``[demo] data`` under ``root``; :class:`ConfigError` saying so when it is not set or
        not there (the demo data is not part of the installed package)."""
        if not self.demo.data:
            raise ConfigError("[demo] data is not set: the demo needs its data folder (waveforms/, "
                              "quakemigrate/); in the repository it is tests/data/iceland "
                              "(config/demo-iceland.toml), or set IDC__DEMO__DATA=<folder>")
        path = _resolve(self.demo.data, self.root)
        if not (path / "waveforms").is_dir():
            raise ConfigError(f"[demo] data = {self.demo.data!r}: no folder {path / 'waveforms'} (the demo "
                              f"data is not installed with the package; it is in the repository's "
                              f"tests/data/iceland; relative paths are under root = {self.root})")
        return path

    def config_hash(self, *sections: str) -> str:
        """SHA-256 (16 hex) of the named sections (default: the sections that change products,
        :data:`PROCESSING_SECTIONS`), for product provenance."""
        data = self.model_dump(mode="json")
        data = {k: data[k] for k in (sections or PROCESSING_SECTIONS)}
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _resolve(p: str | Path, base: Path) -> Path:
    p = Path(p).expanduser()
    return p if p.is_absolute() else (base / p)


def _root(p: str | Path) -> Path:
    """``root`` made absolute (empty or relative: under the current folder)."""
    p = Path(p or ".").expanduser()
    return p if p.is_absolute() else Path.cwd() / p


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _merge(base: dict, extra: Mapping, origin: dict, source: str, prefix: tuple = ()) -> None:
    """Deep-merge ``extra`` into ``base`` and remember which source set each leaf key."""
    for key, value in extra.items():
        path = prefix + (key,)
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, origin, source, path)
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value
            origin[path] = source
            if isinstance(value, Mapping):
                for sub in value:
                    origin[path + (sub,)] = source


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _set(data: dict, path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
        if not isinstance(data, dict):
            raise ConfigError(f"{'.'.join(path)}: {key} is not a table")
    data[path[-1]] = value


def load_settings(
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load and validate the configuration.

    :param config_file: TOML file selected by the user (``--config``); defaults to ``IDC_CONFIG``
        or only the package's ``config/default.toml``.
    :param env: environment mapping (defaults to ``os.environ``).
    :param overrides: dotted-key overrides applied last (``{"ingest.on_conflict": "replace"}``),
        for tests and programmatic use.
    :raises ConfigError: naming the key and the file or variable that gave the bad value.
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    origin: dict[tuple, str] = {}
    sources = [DEFAULT_CONFIG]
    selected = config_file or env.get("IDC_CONFIG") or None
    if selected:
        sel = Path(selected).expanduser()
        root = _root(env.get("IDC_ROOT", ""))
        if not sel.is_absolute() and not sel.exists() and (root / sel).exists():
            sel = root / sel
        if sel.resolve() != DEFAULT_CONFIG.resolve():
            sources.append(sel)
    for src in sources:
        _merge(data, _read_toml(src), origin, str(src))
    for var, path in ENV_SHORTCUTS.items():
        if env.get(var):
            _set(data, path, env[var])
            origin[path] = f"environment variable {var}"
    for var, raw in env.items():
        if var.startswith("IDC__"):
            path = tuple(part.lower() for part in var[5:].split("__") if part)
            if path:
                _set(data, path, _parse_env_value(raw))
                origin[path] = f"environment variable {var}"
    for dotted, value in (overrides or {}).items():
        path = tuple(dotted.split("."))
        _set(data, path, value)
        origin[path] = "override"
    data["sources"] = tuple(str(s) for s in sources)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        found = []  # (location, message)
        for err in exc.errors():
            loc = tuple(str(x) for x in err["loc"])
            cause = (err.get("ctx") or {}).get("error")
            if isinstance(cause, _NestedErrors):  # each key inside the value, e.g. detection.overrides.x
                found += [(loc + tuple(str(x) for x in sub), msg) for sub, msg in cause.errors]
                continue
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key (typo? see config/default.toml for the valid keys)"
            found.append((loc, msg))
        lines = []
        for loc, msg in found:
            # the source of the key, of the table holding it, or (an unknown table set by one
            # variable, IDC__SECTION__KEY) of a key under it
            where = next((origin[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in origin),
                         next((src for path, src in origin.items() if path[:len(loc)] == loc), str(sources[-1])))
            lines.append(f"{where}: {'.'.join(loc)}: {msg}")
        if len(lines) == 1:  # one line naming the file (or variable) and the key
            err = ConfigError(f"invalid configuration: {lines[0]}")
            err.key, err.source = ".".join(found[0][0]), lines[0].split(": ", 1)[0]
            raise err from None
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    home = settings.home.expanduser()
    if not home.is_absolute():
        home = Path.cwd() / home
    root = _root(settings.root)
    update = {"home": home, "root": root}
    if settings.radionuclide.library:
        update["radionuclide"] = _radionuclide_library(settings.radionuclide, root,
                                                       origin.get(("radionuclide", "library"), str(sources[-1])))
    return settings.model_copy(update=update)


def _radionuclide_library(cfg: RadionuclideConfig, root: Path, source: str) -> RadionuclideConfig:
    """``[radionuclide] library`` made absolute (relative: under ``root``) and read once, so a missing
    or malformed library stops the configuration with one line naming the key (not the first
    analysis, hours later)."""
    from pipeline.radionuclide.nuclides import load_library

    path = _resolve(cfg.library, root)
    try:
        if not path.is_file():
            raise ValueError(f"no such file {path} (relative paths are under root = {root})")
        load_library(path)
    except (ValueError, OSError, KeyError) as exc:
        err = ConfigError(f"invalid configuration: {source}: radionuclide.library: {exc}")
        err.key, err.source = "radionuclide.library", source
        raise err from None
    return cfg.model_copy(update={"library": str(path)})

