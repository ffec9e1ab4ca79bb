"""The IDC's AutoDRM: IMS1.0 request messages answered with IMS1.0 data messages.

:func:`answer_request` (settings, request text) → response text; :func:`parse_request` →
:class:`Request`; CM6/INT codecs in :mod:`pipeline.autodrm.cm6`. Served at ``POST /ims1/request``
(:mod:`pipeline.service.autodrm`) and by ``idc request FILE``.
"""
from pipeline.autodrm.request import Request, RequestLine, parse_request
from pipeline.autodrm.response import answer_request, split_sections

__all__ = ["Request", "RequestLine", "answer_request", "parse_request", "split_sections"]
