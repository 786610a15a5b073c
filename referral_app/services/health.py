"""Health of the running system: database, queue, live workers, cron heartbeat (and the
intake writer's, when intake writes in a process of its own)."""
import time

from flask import current_app
from sqlalchemy import text

from referral_app.extensions import db


def check() -> tuple[dict, list[str]]:
    """The /healthz body and the names of the parts that are down."""
    from rq import Worker

    from referral_app.jobs.heartbeat import HEARTBEAT_INTERVAL, heartbeat_key
    from referral_app.jobs.queues import ALL_QUEUES, queue_name, redis_connection

    body, down = {}, []
    try:
        db.session.execute(text("SELECT 1"))
        body["database"] = "ok"
    except Exception as exc:  # any driver error means the same to an operator: down
        db.session.rollback()
        body["database"] = f"down: {exc.__class__.__name__}"
        down.append("database")
    try:
        conn = redis_connection()
        conn.ping()
        body["queue"] = "ok"
        ours = {queue_name(q) for q in ALL_QUEUES}
        workers = [w for w in Worker.all(connection=conn) if ours & set(w.queue_names())]
        body["workers"] = len(workers)
        if not workers:
            down.append("workers")
        beat = conn.get(heartbeat_key())
        age = time.time() - float(beat) if beat else None
        body["cron"] = "ok" if age is not None and age < 3 * HEARTBEAT_INTERVAL else "stale"
        if body["cron"] != "ok":
            down.append("cron")
        _intake_writer(conn, body, down)
    except Exception as exc:  # redis-py raises several families; all mean "queue down"
        body.update(queue=f"down: {exc.__class__.__name__}", workers=0, cron="unknown")
        down += ["queue", "workers", "cron"]
    return body, down


def _intake_writer(conn, body: dict, down: list) -> None:
    """With INTAKE_WRITER=process no API referral is written while no writer beats."""
    from referral_app.jobs.heartbeat import INTAKE_WRITER_INTERVAL, intake_writer_key

    if current_app.config.get("INTAKE_WRITER") != "process":
        return
    beat = conn.get(intake_writer_key())
    fresh = beat is not None and time.time() - float(beat) < 5 * INTAKE_WRITER_INTERVAL
    body["intake_writer"] = "ok" if fresh else "missing"
    if not fresh:
        down.append("intake_writer")
