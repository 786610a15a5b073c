"""The WSGI entry point for gunicorn and `flask --app wsgi`."""
import gc as _gc

from sqlalchemy.orm import configure_mappers as _configure_mappers

from referral_app.app import create_app

app = create_app()
# Mappers are configured at a process's first query unless done here: each web worker's
# first request paid for it (~50 ms alone, far more beside 31 busy threads), and what it
# built was left out of the freeze below.
_configure_mappers()
# What is built so far (modules, the app, its mappers and schemas: ~160k objects) lives as
# long as the process. Frozen out of the cyclic collector's sight, a full collection no
# longer walks it all with every thread stopped (~100 ms, every few seconds under load: the
# intake load's p99). The intake writer (`flask --app wsgi intake-writer`) gets it too.
_gc.freeze()
