"""WSGI entry point: ``gunicorn commonroom.platform.wsgi:app``."""

from commonroom.platform.app import create_app

app = create_app()
