"""The WSGI entry point for gunicorn and `flask --app wsgi`."""
import gc as _gc

from referral_app.app import create_app

app = create_app()
# What is built so far (modules, the app, its mappers and schemas: ~160k objects) lives as
# long as the process. Frozen out of the cyclic collector's sight, a full collection no
# longer walks it all with every thread stopped (~100 ms, every few seconds under load: the
# intake load's p99). The intake writer (`flask --app wsgi intake-writer`) gets it too.
_gc.freeze()
