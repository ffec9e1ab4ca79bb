"""Daily station health: availability, gaps and silent stations of the previous UTC day
(pipeline.tasks.station_health → products/station_health/<day>.txt and .json)."""
import datetime

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, task

with DAG("station_health", schedule=CronDataIntervalTimetable("15 0 * * *", timezone="UTC"), catchup=False,
         start_date=pendulum.datetime(2014, 8, 24, tz="UTC"), tags=["idc", "operations"],
         default_args={"retries": 2, "retry_delay": datetime.timedelta(minutes=5)}, doc_md=__doc__) as dag:

    @task(task_id="report")
    def report(data_interval_start=None, data_interval_end=None):
        from pipeline import tasks

        day = data_interval_start.start_of("day")
        return tasks.station_health(tasks.settings_from_env(), day.isoformat(), day.add(days=1).isoformat())

    report()
