"""The framework ceiling: a bare Flask JSON endpoint, served by the same gunicorn configuration.

No database, no auth, no extensions: what Flask + gunicorn cost per request on this machine,
against which the product's endpoints are compared (`gunicorn bench.bare_app:app`).
"""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/")
def ready():
    return jsonify(ok=True)


@app.post("/echo")
def echo():
    body = request.get_json(silent=True) or {}
    referee = body.get("referee") or {}
    return jsonify(id=1, status="submitted", email=referee.get("email")), 201


@app.get("/echo")
def read():
    return jsonify(items=[], page=1, per_page=25, total=0)
