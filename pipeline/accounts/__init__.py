"""Accounts and access (issue 6 item 4): States with users, roles, API tokens, the access policy
per product, rate limits and the download audit.

* :mod:`pipeline.accounts.config` — ``[access]`` and ``[subscriptions]`` configuration;
* :mod:`pipeline.store.accounts` — States, users, tokens (hashed), request outputs;
* :mod:`pipeline.accounts.policy` — role × product decisions;
* :mod:`pipeline.accounts.ratelimit` — token buckets;
* :mod:`pipeline.accounts.redact` — the logging filter that keeps tokens out of logs.

The web side (who is asking, 401/403/429, audit rows) is :mod:`pipeline.service.auth`.
"""
