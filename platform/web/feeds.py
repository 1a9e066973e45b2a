"""iCalendar feeds. (Being built out.)"""

from flask import Blueprint

bp = Blueprint("feeds", __name__)


@bp.route("/calendar/<peer_id>.ics")
def personal(peer_id):
    return "", 404
