"""``moderation serve``: the Moderator over HTTP (docs/service.md, SERVICE.md).

Needs the ``serve`` extra: ``pip install "moderation-core[serve]"``.
"""

from ._app import create_app
from ._state import AppState

__all__ = ["AppState", "create_app"]
