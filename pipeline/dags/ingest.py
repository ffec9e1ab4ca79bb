"""Ingest every 10 minutes: new files in the drop folder (`ingest.drop_dir`) and the interval from the
configured SeedLink server / FDSN service into the SDS archive (pipeline.tasks.ingest_scheduled)."""
import datetime

import pendulum
from airflow.sdk import DAG, Asset, DeltaDataIntervalTimetable, task

with DAG("ingest", schedule=DeltaDataIntervalTimetable(datetime.timedelta(minutes=10)), catchup=False,
         start_date=pendulum.datetime(2014, 8, 24, tz="UTC"), max_active_runs=1, tags=["idc", "ingest"],
         default_args={"retries": 3, "retry_delay": datetime.timedelta(minutes=1), "retry_exponential_backoff": True},
         doc_md=__doc__) as dag:

    @task(task_id="ingest", outlets=[Asset("idc://archive")])
    def ingest(data_interval_start=None, data_interval_end=None):
        from pipeline import tasks

        return tasks.ingest_scheduled(tasks.settings_from_env(), data_interval_start.isoformat(),
                                      data_interval_end.isoformat())

    ingest()
