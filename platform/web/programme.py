"""Programme calendar and the organizer's page. (Being built out.)"""

from flask import Blueprint, render_template_string

from commonroom.platform.web.security import organizer_required

bp = Blueprint("programme", __name__)


@bp.route("/programme")
def calendar():
    return render_template_string("{% extends 'base.html' %}{% block content %}<h1>Programme</h1>{% endblock %}")


@bp.route("/organize")
@organizer_required
def organize():
    return render_template_string("{% extends 'base.html' %}{% block content %}<h1>Organize</h1>{% endblock %}")
