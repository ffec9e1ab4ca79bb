"""Distribution: triggered by every new product version (the SEL*/REB/SEB/SSEB Assets); writes each
to the outbox (IMS1.0 + QuakeML) for subscriptions and alerts (pipeline.tasks.distribute)."""
import datetime

import pendulum
from airflow.sdk import DAG, Asset, task

PRODUCTS = ("SEL1", "SEL2", "SEL3", "REB", "SEB", "SSEB")
ASSETS = [Asset(f"idc://products/{p}") for p in PRODUCTS]
schedule = ASSETS[0]
for a in ASSETS[1:]:
    schedule = schedule | a

with DAG("distribute", schedule=schedule, catchup=False, start_date=pendulum.datetime(2014, 8, 24, tz="UTC"),
         tags=["idc", "distribution"], doc_md=__doc__,
         default_args={"retries": 5, "retry_delay": datetime.timedelta(seconds=30), "retry_exponential_backoff": True}) as dag:

    @task(task_id="distribute")
    def distribute(triggering_asset_events=None):
        from pipeline import tasks

        settings, out = tasks.settings_from_env(), []
        for events in (triggering_asset_events or {}).values():
            for ev in events:
                x = ev.extra or {}
                if {"product", "start", "end"} <= set(x):
                    out.append(tasks.distribute(settings, x["product"], x["start"], x["end"], x.get("version")))
        return out or tasks.distribute_pending(settings)  # run by hand: whatever is not out yet

    distribute()
