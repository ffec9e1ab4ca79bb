"""Schema-driven fuzzing of ``idc serve`` (issue 6 acceptance: "fuzzing the OpenAPI schema yields no
HTTP 5xx; bad parameters get 400 with an FDSN-style error body naming the parameter").

The app's own OpenAPI document (``/openapi.json``) is loaded with schemathesis against the ASGI
app (no network) over a real SQLite store: the REB of 1995-01-16 (two versions), the NCSN
Calaveras catalogue as yearly SEL3 products, the Z7 and GR.FUR StationXML and Iceland
waveforms in the SDS archive (the same data as ``tests/test_service_fdsn.py``).

* ``test_no_operation_gives_a_server_error``: every operation of the schema, with
  :data:`MAX_EXAMPLES` generated requests each (hypothesis, derandomised: the same requests
  every run), checked with schemathesis' ``not_a_server_error``.
* ``test_schema_violating_requests_give_no_server_error``: schemathesis' negative mode on
  every operation that takes parameters or a body.
* ``test_invalid_fdsn_parameters_get_400_naming_the_parameter``: for every parameter the schema
  declares on the three FDSN ``query`` routes, generated values that violate its schema
  (wrong type, outside ``minimum``/``maximum``, not in ``enum``, not matching ``pattern``) get
  HTTP 400 with the FDSN error document (``Error 400: Bad Request`` …) naming the parameter.
"""
from __future__ import annotations

import math
import re

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from pipeline import tasks  # noqa: E402
from pipeline.service.app import create_app  # noqa: E402
from pipeline.store import db  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.test_service_fdsn import (  # noqa: E402
    EVENT_CAP,
    FUR,
    ICELAND,
    REB1,
    REB2,
    Z7,
    _calaveras_products,
    store_reb,
)

#: generated requests per operation (the whole file stays well under 90 s on 2 cores)
MAX_EXAMPLES = 20
FDSN_QUERY = ("/fdsnws/event/1/query", "/fdsnws/station/1/query", "/fdsnws/dataselect/1/query")
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), print_blob=True)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz")
    cfg = make_settings(home, "", **{"service.event_max_results": EVENT_CAP})
    db.upgrade(cfg.database_url)
    tasks.load_stations(cfg, [str(Z7), str(FUR)])
    assert tasks.ingest_files(cfg, ICELAND, progress=False)["accepted"] == len(ICELAND)
    store_reb(cfg, REB1, "reb-v1")
    store_reb(cfg, REB2, "reb-v2")
    _calaveras_products(cfg)
    return create_app(cfg)


@pytest.fixture(scope="module")
def schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _operations():
    """(method, path) of every operation of the app's schema (built over an empty store)."""
    import tempfile
    from pathlib import Path

    from fastapi.testclient import TestClient

    home = Path(tempfile.mkdtemp(prefix="idc-fuzz-ops-"))
    doc = TestClient(create_app(make_settings(home, ""))).get("/openapi.json").json()
    def violable(op) -> bool:  # a path parameter of any string cannot be given a wrong value
        return bool(op.get("requestBody")) or any(
            p["in"] != "path" or p.get("schema", {}).get("type") != "string" for p in op.get("parameters", []))

    return sorted((meth.upper(), path, violable(op)) for path, ops in doc["paths"].items() for meth, op in ops.items())


_ALL = _operations()
OPERATIONS = [(meth, path) for meth, path, _ in _ALL]
#: operations that take input a request can violate (the ones negative generation applies to)
WITH_INPUT = [(meth, path) for meth, path, has_input in _ALL if has_input]


def test_schema_describes_the_fdsn_parameters(schema):
    """The FDSN parameters are in the schema with their types, bounds, enums and time pattern,
    so that the fuzzer generates meaningful (mostly valid) requests."""
    from pipeline.service.fdsn import dataselect, event, station

    raw = schema.raw_schema["paths"]
    for path, mod in zip(FDSN_QUERY, (event, station, dataselect)):
        declared = {p["name"]: p["schema"] for p in raw[path]["get"]["parameters"]}
        assert set(declared) == {p.name for p in mod.SPECS}
        for p in mod.SPECS:
            s = declared[p.name]
            assert s["type"] == {"time": "string", "float": "number", "int": "integer", "bool": "boolean",
                                 "str": "string", "choice": "string"}[p.kind], p.name
            if p.choices:
                assert s["enum"] == list(p.choices)
            if p.kind == "time":
                assert re.match(s["pattern"], "2014-08-24T00:01:00") and not re.match(s["pattern"], "yesterday")
            if p.minimum is not None:
                assert s["minimum"] == p.minimum


@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_operation_gives_a_server_error(schema, method, path):
    op = schema[path][method]

    @FUZZ
    @given(case=op.as_strategy())
    def run(case):
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error])

    run()


@pytest.mark.parametrize("method,path", WITH_INPUT, ids=[f"{m} {p}" for m, p in WITH_INPUT])
def test_schema_violating_requests_give_no_server_error(schema, method, path):
    """schemathesis' negative generation: requests that violate the schema (wrong types,
    missing required parameters, out-of-range values, bad bodies) are client errors, never 5xx."""
    op = schema[path][method]

    @settings(FUZZ, max_examples=MAX_EXAMPLES // 2)
    @given(case=op.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))
    def run(case):
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error])

    run()


# --------------------------------------------------------------------------- invalid values
def _num(s: dict, x: float, rounding) -> str:
    """``x`` as a query value of a number (repr) or integer (rounded away from the range) parameter."""
    return repr(x) if s["type"] == "number" else str(rounding(x))


def _invalid_values(s: dict) -> st.SearchStrategy[str]:
    """Values violating the parameter schema ``s`` (as query strings)."""
    bad = [st.sampled_from(["", " ", "\x00", "x" * 2001])]
    if s["type"] in ("number", "integer"):
        bad.append(st.text(alphabet="abcxyz,;:!", min_size=1, max_size=8))
        bad.append(st.sampled_from(["nan", "inf", "-inf", "1e999", "0x10", "1,2"]))
        if "minimum" in s:
            bad.append(st.floats(max_value=s["minimum"], exclude_max=True, allow_nan=False, allow_infinity=False,
                                 min_value=-1e12).map(lambda x: _num(s, x, math.floor)))
        if "maximum" in s:
            bad.append(st.floats(min_value=s["maximum"], exclude_min=True, allow_nan=False, allow_infinity=False,
                                 max_value=1e12).map(lambda x: _num(s, x, math.ceil)))
        if s["type"] == "integer":
            bad.append(st.sampled_from(["1.5", "2e3"]))
    elif s["type"] == "boolean":
        bad.append(st.text(alphabet="tTrRuUeEfFaAlLsS01yn", min_size=1, max_size=6)
                   .filter(lambda v: v.lower() not in ("true", "false")))
    elif "enum" in s:
        bad.append(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
                   .filter(lambda v: v.lower() not in {e.lower() for e in s["enum"]}))
    elif "pattern" in s:
        bad.append(st.sampled_from(["yesterday", "2014-13-45", "2014-08-24T25:00:00", "24/08/2014", "1408838400",
                                    "2014-08-24T00:00:00+05:00", "2014-02-30"]))
    return st.one_of(bad)


def _constrained(path: str, schema) -> list[tuple[str, dict]]:
    params = schema.raw_schema["paths"][path]["get"]["parameters"]
    return [(p["name"], p["schema"]) for p in params
            if p["schema"]["type"] != "string" or "enum" in p["schema"] or "pattern" in p["schema"]]


@pytest.mark.parametrize("path", FDSN_QUERY)
def test_invalid_fdsn_parameters_get_400_naming_the_parameter(app, schema, path):
    from fastapi.testclient import TestClient

    client = TestClient(app)
    constrained = _constrained(path, schema)
    assert len(constrained) >= 5
    base = {"starttime": "2014-08-24T00:01:00", "endtime": "2014-08-24T00:01:10"} if "dataselect" in path else {}

    @settings(max_examples=MAX_EXAMPLES * 4, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data):
        name, s = data.draw(st.sampled_from(constrained), label="parameter")
        value = data.draw(_invalid_values(s), label="value")
        r = client.get(path, params={**{k: v for k, v in base.items() if k != name}, name: value})
        assert r.status_code == 400, (name, value, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("text/plain")
        assert r.text.startswith("Error 400: Bad Request\n\n"), r.text[:300]
        assert f"'{name}'" in r.text, (name, value, r.text[:300])
        for section in ("Usage details are available from ", "Request:\n", "Request Submitted:\n",
                        "Service version:\n"):
            assert section in r.text

    run()
