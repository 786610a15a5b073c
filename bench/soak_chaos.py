"""Soak: the chaos plan, which stops, kills and crashes Redis and the RQ workers under load."""
from __future__ import annotations

import signal
import threading
import time

from bench.soak_processes import log, redis_ping, wait_for


class Chaos:
    """The plan, by share of referrals acknowledged; a supervisor restarts what died."""

    def __init__(self, start, redis, workers, cron, outage: float, redis_url: str,
                 forking: bool):
        self.start_at, self.redis, self.workers, self.cron = start, redis, workers, cron
        self.outage, self.redis_url, self.forking = outage, redis_url, forking
        self.expected = {p.name: True for p in (redis, cron, *workers)}
        self.events: list[str] = []

    def note(self, message: str) -> None:
        self.events.append(message)
        log(self.start_at, message)

    def up(self, *procs) -> None:
        """Start what is down, Redis first (the others need it)."""
        for proc in sorted(procs, key=lambda p: p is not self.redis):
            self.expected[proc.name] = True
            if not proc.alive():
                proc.start()
            if proc is self.redis:
                wait_for(lambda: redis_ping(self.redis_url), 30)

    def down(self, *procs, sig=signal.SIGTERM) -> None:
        for proc in procs:
            self.expected[proc.name] = False
            if sig == signal.SIGTERM:
                proc.stop()
            else:
                proc.signal_group(sig)
                proc.proc.wait()

    def kill_horses(self) -> None:
        """SIGKILL the work-horses running a job, waiting up to 10 s for one to be busy."""
        killed = 0
        for _ in range(100):
            killed = sum(w.kill_children() for w in self.workers)
            if killed:
                break
            time.sleep(0.1)
        self.note(f"  {killed} work-horse(s) killed mid-job")

    def kill_worker_mid_job(self) -> None:
        """SIGKILL worker 2 while it runs a job (the job is abandoned), restart it."""
        w2 = self.workers[1]
        wait_for(w2.cpu_busy, 5)
        self.down(w2, sig=signal.SIGKILL)
        self.up(w2)

    def plan(self):
        w1, w2 = self.workers
        crash = (self.kill_horses, "kill -9 the work-horses (jobs die mid-run)") if self.forking \
            else (self.kill_worker_mid_job, "kill -9 worker 2 mid-job, restart it")
        return [
            (0.10, crash[1], crash[0]),
            (0.20, "kill -9 worker 1, restart it 2 s later",
             lambda: (self.down(w1, sig=signal.SIGKILL), time.sleep(2), self.up(w1))),
            (0.35, f"stop Redis for {self.outage:.0f} s",
             lambda: (self.down(self.redis), time.sleep(self.outage), self.up(self.redis))),
            (0.55, f"stop Redis, both workers and cron for {self.outage:.0f} s",
             lambda: (self.down(w1, w2, self.cron, self.redis), time.sleep(self.outage),
                      self.up(self.redis), self.up(w1, w2, self.cron))),
            (0.75, "kill -9 Redis (a crash), restart it 3 s later",
             lambda: (self.down(self.redis, sig=signal.SIGKILL), time.sleep(3),
                      self.up(self.redis))),
            (0.85, crash[1] + " (again)", crash[0]),
        ]

    def run(self, load, stop: threading.Event) -> None:  # load: soak.Load (its progress())
        """Each step once its share is acknowledged (every step, also after a fast load)."""
        steps = self.plan()
        while steps or not stop.is_set():
            if steps and (load.progress >= steps[0][0] or stop.is_set()):
                share, what, action = steps.pop(0)
                self.note(f"chaos at {share:.0%} acknowledged: {what}")
                action()
            if redis_ping(self.redis_url):  # a worker or cron that lost Redis may have exited
                for proc in (*self.workers, self.cron):
                    if self.expected[proc.name] and not proc.alive():
                        self.note(f"{proc.name} had exited ({proc.proc.returncode}); restarted")
                        proc.start()
            time.sleep(0.3)
