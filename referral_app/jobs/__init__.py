"""RQ jobs: queue names, the Redis connection and enqueue-after-commit."""
from referral_app.jobs.queues import (  # noqa: F401
    ALL_QUEUES,
    DEFAULT,
    IMPORTS,
    NOTIFY,
    SLA,
    enqueue_after_commit,
    get_queue,
    redis_connection,
)
