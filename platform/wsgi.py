"""WSGI entry point: ``gunicorn commonroom.platform.wsgi:app``."""

from commonroom.platform.app import create_app
from commonroom.platform.logs import configure_logging

configure_logging()
app = create_app()
