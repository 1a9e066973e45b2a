"""Talks: propose, my talks, talk page. (Being built out.)"""

from flask import Blueprint, render_template_string

from commonroom.platform.web.security import login_required

bp = Blueprint("talks", __name__)


@bp.route("/talks/new")
@login_required
def propose():
    return render_template_string("{% extends 'base.html' %}{% block content %}<h1>Propose</h1>{% endblock %}")


@bp.route("/talks/mine")
@login_required
def mine():
    return render_template_string("{% extends 'base.html' %}{% block content %}<h1>Mine</h1>{% endblock %}")


@bp.route("/talks/<talk_id>")
def show(talk_id):
    return render_template_string("{% extends 'base.html' %}{% block content %}<h1>Talk</h1>{% endblock %}")
