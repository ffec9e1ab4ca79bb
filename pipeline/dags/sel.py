"""SEL1/SEL2/SEL3: the automatic chain on the same fixed 20-minute windows, each later after the window
ends so SEL2/SEL3 include late data; products are Assets (→ distribute); SEL3 feeds the review queue."""
import datetime

import pendulum
from airflow.sdk import DAG, Asset, DeltaDataIntervalTimetable, PokeReturnValue, task

WINDOW = datetime.timedelta(minutes=20)
#: wait after the window's end (late data); IDC-like defaults, the IDC's own are not in our references
DELAYS = {"SEL1": datetime.timedelta(minutes=15), "SEL2": datetime.timedelta(hours=2), "SEL3": datetime.timedelta(hours=6)}
ARGS = {"retries": 3, "retry_delay": datetime.timedelta(minutes=1), "retry_exponential_backoff": True}


def sel_dag(product: str, delay: datetime.timedelta) -> DAG:
    asset = Asset(f"idc://products/{product}")
    with DAG(product.lower(), schedule=DeltaDataIntervalTimetable(WINDOW), catchup=False, default_args=ARGS,
             start_date=pendulum.datetime(2014, 8, 24, tz="UTC"), max_active_runs=3, tags=["idc", product]) as dag:

        @task.sensor(task_id="wait_for_late_data", mode="reschedule", poke_interval=300, timeout=delay + 3 * WINDOW)
        def wait(data_interval_end=None):
            return PokeReturnValue(is_done=pendulum.now("UTC") >= data_interval_end + delay)

        @task(task_id="process", outlets=[asset])
        def process(data_interval_start=None, data_interval_end=None, dag_run=None, outlet_events=None):
            from pipeline import tasks

            res = tasks.process_window(tasks.settings_from_env(), product, data_interval_start.isoformat(),
                                       data_interval_end.isoformat(), runner="airflow", run_id=f"{dag_run.dag_id}/{dag_run.run_id}")
            outlet_events[asset].extra = {k: res[k] for k in ("product", "start", "end", "version", "events")}
            return {k: v for k, v in res.items() if k != "file"}

        @task(task_id="enqueue_review")
        def enqueue(data_interval_start=None, data_interval_end=None):
            from pipeline import tasks

            return tasks.review_enqueue(tasks.settings_from_env(), data_interval_start.isoformat(), data_interval_end.isoformat())

        wait() >> process() >> ([enqueue()] if product == "SEL3" else [])
    return dag


sel1, sel2, sel3 = (sel_dag(p, d) for p, d in DELAYS.items())
