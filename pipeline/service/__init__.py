"""The ``idc serve`` web service: FDSN web services, IMS1.0 requests, alert feeds, open data and the
web UI over the store and the SDS archive, with accounts and an access policy.

Layout (one router per service, all built by :func:`pipeline.service.app.create_app`):

* :mod:`pipeline.service.app` — the app factory, error handlers, shared state;
* :mod:`pipeline.service.auth` — who is asking (Bearer/Basic API tokens → principal with a role;
  no credentials → public) and the access policy (``[access]``);
* :mod:`pipeline.service.fdsn.params` — FDSN parameter parsing (aliases, types, errors), WADL;
* :mod:`pipeline.service.fdsn.event` — fdsnws-event 1.2;
* :mod:`pipeline.service.fdsn.station` — fdsnws-station 1.1;
* :mod:`pipeline.service.fdsn.dataselect` — fdsnws-dataselect 1.1;
* :mod:`pipeline.service.autodrm`, :mod:`pipeline.service.alerts`, :mod:`pipeline.service.open_data`
  — IMS1.0 request messages, CAP/GeoJSON feeds, open exports.

Importing this package has no side effects (DESIGN.md convention 5); FastAPI is imported only
by the modules that build the app.
"""
