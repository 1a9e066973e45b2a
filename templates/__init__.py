"""Jinja templates (package so they ship in the wheel)."""
