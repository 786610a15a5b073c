"""The WSGI entry point for gunicorn and `flask --app wsgi`."""
from referral_app.app import create_app

app = create_app()
