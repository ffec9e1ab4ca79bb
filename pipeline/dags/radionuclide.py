"""Radionuclide reports: after every ingest run (the `ingest` DAG's Asset idc://archive: new files of
the drop folder, PHD spectra among them, are stored and analysed by it), build the report product (RRR)
of every stored sample (pipeline.tasks.radionuclide_reports): new samples get version 1, changed ones a
new version, unchanged ones are rewritten in place, so a re-run changes nothing. Asset idc://products/RRR."""
import datetime

import pendulum
from airflow.sdk import DAG, Asset, task

RRR = Asset("idc://products/RRR")

with DAG("radionuclide", schedule=Asset("idc://archive"), catchup=False, max_active_runs=1,
         start_date=pendulum.datetime(2014, 8, 24, tz="UTC"), tags=["idc", "radionuclide"], doc_md=__doc__,
         default_args={"retries": 3, "retry_delay": datetime.timedelta(minutes=1), "retry_exponential_backoff": True}) as dag:

    @task(task_id="reports", outlets=[RRR])
    def reports(run_id=None, outlet_events=None):
        from pipeline import tasks

        res = tasks.radionuclide_reports(tasks.settings_from_env(), runner="airflow", run_id=f"radionuclide/{run_id}")
        outlet_events[RRR].extra = {"new_versions": sum(r["new_version"] for r in res["reports"]),
                                    "reports": len(res["reports"])}
        return res

    reports()
