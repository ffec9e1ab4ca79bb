"""Subscriptions and their deliveries (issue 6 item 5).

* :mod:`pipeline.distribution.subscriptions` — add/list/remove subscriptions, the delivery log;
* :mod:`pipeline.distribution.deliver` — :func:`~pipeline.distribution.deliver.deliver_product`,
  called by the ``distribute`` DAG through :func:`pipeline.tasks.subscriptions_deliver`.
"""
