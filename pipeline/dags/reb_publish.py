"""REB publication, daily after the analysts' review deadline: freeze the day's accepted events as a
new REB version (pipeline.tasks.reb_publish), then screening adds SEB and SSEB (pipeline.tasks.screen).
Each product is an Asset (→ `distribute`)."""
import datetime

import pendulum
from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, PokeReturnValue, task

#: analysts review a day's SEL3 events until this long after the day ends (configurable here)
REVIEW_DEADLINE = datetime.timedelta(hours=48)
REB, SEB, SSEB = (Asset(f"idc://products/{p}") for p in ("REB", "SEB", "SSEB"))

with DAG("reb_publish", schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"), catchup=False,
         start_date=pendulum.datetime(2014, 8, 24, tz="UTC"), max_active_runs=2, tags=["idc", "reviewed"],
         default_args={"retries": 3, "retry_delay": datetime.timedelta(minutes=5), "retry_exponential_backoff": True},
         doc_md=__doc__) as dag:

    @task.sensor(task_id="wait_for_review_deadline", mode="reschedule", poke_interval=1800,
                 timeout=REVIEW_DEADLINE + datetime.timedelta(days=1))
    def wait(data_interval_end=None):
        return PokeReturnValue(is_done=pendulum.now("UTC") >= data_interval_end + REVIEW_DEADLINE)

    @task(task_id="publish", outlets=[REB])
    def publish(data_interval_start=None, outlet_events=None, run_id=None):
        from pipeline import tasks

        res = tasks.reb_publish(tasks.settings_from_env(), data_interval_start.to_date_string(), runner="airflow",
                                run_id=f"reb_publish/{run_id}")
        outlet_events[REB].extra = {k: res.get(k) for k in ("product", "start", "end", "version")}
        return res

    @task(task_id="screen", outlets=[SEB, SSEB])
    def screen(data_interval_start=None, outlet_events=None, run_id=None):
        from pipeline import tasks

        res = tasks.screen(tasks.settings_from_env(), data_interval_start.to_date_string(), runner="airflow",
                           run_id=f"reb_publish/{run_id}")
        for asset, key in ((SEB, "SEB"), (SSEB, "SSEB")):
            outlet_events[asset].extra = {"product": key, **{k: (res.get(key) or {}).get(k) for k in ("start", "end", "version")}}
        return res

    wait() >> publish() >> screen()
