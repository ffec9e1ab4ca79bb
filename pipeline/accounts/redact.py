"""Keep API tokens out of logs: a :class:`logging.Filter` that rewrites records.

Installed by the web service on its loggers and their handlers (uvicorn access and error logs,
``pipeline``, the root logger). It removes ``idc_<id>_<secret>`` tokens (keeping the public
id), the credentials of ``Authorization: Bearer/Basic`` values, the ``response`` of HTTP Digest
credentials and ``token=``/``password=``-like query parameters.
"""
from __future__ import annotations

import base64
import binascii
import logging
import re

def _basic(mt: re.Match) -> str:
    """``Basic <base64 of user:password>`` → redacted; ``basic information`` is left alone."""
    try:
        decoded = base64.b64decode(mt.group(3), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return mt.group(0)
    return f"{mt.group(1)}{mt.group(2)}[REDACTED]" if ":" in decoded else mt.group(0)


_PATTERNS = [
    (re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=\-]{8,}"), r"\1\2[REDACTED]"),
    (re.compile(r"(?i)\b(basic)(\s+)([A-Za-z0-9+/]{4,}={0,2})"), _basic),
    (re.compile(r"\b(idc_[0-9a-f]{12}_)[A-Za-z0-9_\-]+"), r"\1[REDACTED]"),
    # Digest: response="<hex MD5/SHA-256>" (a captured one could be replayed within its nonce)
    (re.compile(r"(?i)\b(response)(\s*=\s*\"?)[0-9a-f]{32,128}\b"), r"\1\2[REDACTED]"),
    (re.compile(r"(?i)\b((?:access_)?token|api_?key|password|secret)(=|%3D)[^&\s'\"]+"), r"\1\2[REDACTED]"),
]

LOGGERS = ("", "uvicorn", "uvicorn.access", "uvicorn.error", "pipeline", "pipeline.service", "fastapi", "httpx")


def redact(text: str) -> str:
    for rx, repl in _PATTERNS:
        text = rx.sub(repl, text)
    return text


class RedactTokens(logging.Filter):
    """Rewrites a record whose message holds a credential (always lets it through)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # redact each argument on its own first: formatters (uvicorn's access log) unpack
        # ``record.args`` themselves, so they are kept when that is enough
        args = record.args
        if args:
            if isinstance(args, tuple):
                record.args = tuple(self._arg(a) for a in args)
            elif isinstance(args, dict):
                record.args = {k: self._arg(v) for k, v in args.items()}
            try:
                formatted = str(record.msg) % record.args
            except Exception:  # a logging filter never raises into the code that logs (any %-format error)
                formatted = None
            if formatted is not None:
                clean = redact(formatted)
                if clean != formatted:  # e.g. "Bearer %s": only the whole message shows it
                    record.msg, record.args = clean, ()
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True

    @staticmethod
    def _arg(a):
        if isinstance(a, (int, float)) or a is None:
            return a
        try:
            text = str(a)
        except Exception:  # an argument whose str() fails is passed on as it is (the filter never raises)
            return a
        clean = redact(text)
        return clean if clean != text else a


_FILTER = RedactTokens()


def install(loggers=LOGGERS) -> None:
    """Add the filter to the loggers and their current handlers (idempotent)."""
    for name in loggers:
        lg = logging.getLogger(name)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)
        for h in lg.handlers:
            if _FILTER not in h.filters:
                h.addFilter(_FILTER)
