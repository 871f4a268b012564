"""The two web pages of ``serve``: ``/review`` (the review queue) and ``/dashboard``
(charts of the store's statistics), with ``/login`` and ``/logout`` (docs/review.md).

They read the store in process (``store._reviews``, ``store._stats``), not through
the JSON API, so a browser never holds an API key: ``/login`` takes one once and sets
a signed session cookie (``pages/_session.py``). The middleware lets these paths
through without a Bearer key; this module guards them instead:

- with api_keys, a page needs a logged-in session (else a redirect to /login);
- with none, the server answers on loopback only and there is no login;
- every POST carries the session's CSRF token (403 otherwise), and the cookie is
  HttpOnly and SameSite=Strict;
- every page is sent with a Content-Security-Policy allowing scripts and styles from
  this server only (no inline code), and is not framed.

The store is read in a worker thread (SQLAlchemy is blocking); a page never writes
anything but a review decision. A store whose database does not answer is a 503 page
saying to try again (the error's type in the log, never a traceback or the URL).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import jinja2
import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from moderation_core._errors import InvalidContent, StoreUnavailable
from moderation_core.store import _stats
from moderation_core.store._reviews import ReviewClosed, ReviewItem, ReviewNotFound, ReviewQueue

from ._middleware import is_loopback
from ._notify import outbox_written
from ._state import AppState
from .pages._render import chart_data, highlight, is_web_url, json_for_script, shown_time
from .pages._session import COOKIE_NAME, MAX_AGE, MAX_REVIEWER_CHARS, Session, SessionSigner

__all__ = ["PAGE_PATHS", "Pages", "page_routes"]

log = logging.getLogger("moderation_core.service.pages")

_HERE = Path(__file__).parent / "pages"
# The paths the middleware leaves to this module (see ``_middleware._OPEN_PATHS``).
PAGE_PATHS = frozenset({"/login", "/logout", "/review", "/dashboard"})
STATIC_PREFIX = "/pages/static"
QUEUE_PAGE = 100  # open items listed beside the one under review
MAX_NOTE_CHARS = 4000  # store._reviews.MAX_NOTE
MAX_FORM_FIELDS = 16
RANKING_ROWS = 15
SINCE_CHOICES = ("1h", "6h", "24h", "7d", "30d")
MAX_DASHBOARD_SPAN = 31 * 86400  # the hourly chart has one bar per hour
CHARTS = (
    ("hourly", "Decisions per hour, by label"),
    ("latency", "Provider latency (ms)"),
    ("rates", "Fallback, failover, cache hits (% of checks)"),
    ("senders", "Most blocked senders"),
    ("keywords", "Most intercepted keywords"),
    ("precision", "Reviewer agreement: decisions upheld (%)"),
)
_SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
_DECISIONS = frozenset({"approve", "reject"})


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,  # every template is HTML; every value is someone's text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(highlight=highlight, is_web_url=is_web_url, shown_time=shown_time)
    return env


class Pages:
    """The pages' endpoints for one app. ``clock`` dates sessions (tests move it)."""

    def __init__(self, state: AppState, *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.keys = [key.get().encode() for key in state.settings.api_keys]
        self.signer = SessionSigner(state.settings.api_keys, clock=clock)
        self.clock = clock

    @property
    def login_required(self) -> bool:
        return bool(self.keys)

    # -- plumbing -------------------------------------------------------------

    def _render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        *,
        status: int = 200,
        **context: Any,
    ) -> Response:
        html = (
            _templates()
            .get_template(template)
            .render(
                root=request.scope.get("root_path", ""),
                login_required=self.login_required,
                csrf=session.csrf if session is not None else "",
                nav=session is not None and session.logged_in,
                page=context.pop("page", ""),
                **context,
            )
        )
        response = Response(html, status_code=status, media_type="text/html; charset=utf-8")
        response.headers.update(_SECURITY_HEADERS)
        if session is not None:
            self._set_cookie(request, response, session)
        return response

    def _message(
        self,
        request: Request,
        session: Session | None,
        status: int,
        title: str,
        detail: str,
        back: str | None = None,
    ) -> Response:
        return self._render(
            request, "message.html", session, status=status, title=title, detail=detail, back=back
        )

    def _set_cookie(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE_NAME,
            self.signer.dumps(session),
            max_age=MAX_AGE,
            path=request.scope.get("root_path", "") or "/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )

    def _redirect(self, request: Request, path: str, session: Session | None = None) -> Response:
        response = RedirectResponse(request.scope.get("root_path", "") + path, status_code=303)
        response.headers.update(_SECURITY_HEADERS)
        if session is not None:
            self._set_cookie(request, response, session)
        return response

    def _session(self, request: Request) -> Session | None:
        return self.signer.loads(request.cookies.get(COOKIE_NAME))

    def _refused(self, request: Request) -> Response | None:
        """The middleware's rule for a server without keys: loopback callers only."""
        if self.login_required:
            return None
        server = request.scope.get("server")
        if server is None or server[1] is None or is_loopback(str(server[0])):
            return None
        return self._message(
            request,
            None,
            403,
            "Forbidden",
            "This server has no api_keys and answers only on a loopback address.",
        )

    def _guard(self, request: Request, here: str) -> tuple[Session | None, Response | None]:
        """The session a page may be shown to, or the answer instead (a redirect to
        /login, a refusal)."""
        refused = self._refused(request)
        if refused is not None:
            return None, refused
        session = self._session(request)
        if not self.login_required:
            return session or Session.fresh(self.clock(), logged_in=True), None
        if session is None or not session.logged_in:
            return None, self._redirect(request, f"/login?next={quote(here, safe='/')}")
        return session, None

    def _csrf_ok(self, session: Session, form: Mapping[str, str]) -> bool:
        given = form.get("csrf", "")
        return bool(given) and hmac.compare_digest(given.encode(), session.csrf.encode())

    async def _form(self, request: Request) -> dict[str, str] | None:
        """The urlencoded form (the first value of each field), or None when the body is
        not one (wrong type, not UTF-8, too many fields)."""
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return None
        body = await request.body()  # the middleware caps it at max_body_bytes
        try:
            fields = parse_qs(
                body.decode("utf-8"),
                keep_blank_values=True,
                max_num_fields=MAX_FORM_FIELDS,
                errors="strict",
            )
        except (UnicodeDecodeError, ValueError):
            return None
        return {name: values[0] for name, values in fields.items()}

    def _store(self) -> tuple[sa.Engine, Callable[[], float]] | None:
        store = self.state.store
        if store is None:
            return None
        return store.engine, store.clock

    def _store_down(
        self,
        request: Request,
        session: Session | None,
        exc: Exception,
        *,
        back: str,
        what: str = "",
    ) -> Response:
        """The store's database did not answer: the page says so (503), the log names
        the error's type only (its text may hold the URL or the query's values)."""
        log.warning("pages: %s: the store did not answer (%s)", back, type(exc).__name__)
        return self._message(
            request,
            session,
            503,
            "Store unavailable",
            f"{what}The store's database did not answer; try again in a moment.",
            back=back,
        )

    def _no_store(self, request: Request, session: Session | None) -> Response:
        return self._message(
            request,
            session,
            503,
            "No store",
            "These pages read the durable store: add a [store] table to the config "
            "(docs/store.md).",
        )

    # -- /login, /logout --------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        target = _next_path(request.query_params.get("next"))
        session = self._session(request)
        if not self.login_required or (session is not None and session.logged_in):
            return self._redirect(request, target)
        session = session or Session.fresh(self.clock())
        return self._render(request, "login.html", session, next=target, error=None)

    async def login(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if not self.login_required:
            return self._redirect(request, "/review")
        form = await self._form(request)
        session = self._session(request)
        if form is None:
            return self._message(request, session, 400, "Bad request", "Send the login form.")
        target = _next_path(form.get("next"))
        if session is None or not self._csrf_ok(session, form):
            # No session yet (cookies off, or it expired on the form): a fresh form.
            return self._message(
                request,
                session or Session.fresh(self.clock()),
                403,
                "Forbidden",
                "The form expired or did not come from this site; log in again.",
                back=f"/login?next={quote(target, safe='/')}",
            )
        given = form.get("key", "").encode()
        matched = False
        for key in self.keys:  # every key, in constant time
            matched |= hmac.compare_digest(given, key)
        if not matched:
            log.warning("pages: a login with a wrong API key")
            return self._render(
                request,
                "login.html",
                session,
                status=401,
                next=target,
                error="That is not one of this server's API keys.",
            )
        fresh = Session.fresh(self.clock(), logged_in=True, reviewer=session.reviewer)
        return self._redirect(request, target, fresh)

    async def logout(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        form = await self._form(request)
        session = self._session(request)
        if session is not None and (form is None or not self._csrf_ok(session, form)):
            return self._message(
                request, session, 403, "Forbidden", "The form did not come from this site."
            )
        response = self._redirect(request, "/login" if self.login_required else "/review")
        response.delete_cookie(
            COOKIE_NAME, path=request.scope.get("root_path", "") or "/", httponly=True
        )
        return response

    # -- /review ------------------------------------------------------------------

    async def review_page(self, request: Request) -> Response:
        session, answer = self._guard(request, "/review")
        if answer is not None:
            return answer
        assert session is not None  # noqa: S101 - _guard returns one or the other
        store = self._store()
        if store is None:
            return self._no_store(request, session)
        wanted = _int(request.query_params.get("item"))
        try:
            items, current, open_count = await run_in_threadpool(_open_items, *store, wanted)
        except (sa.exc.SQLAlchemyError, StoreUnavailable) as exc:
            return self._store_down(request, session, exc, back="/review")
        notice = _notice(request.query_params)
        if current is None:
            return self._render(
                request, "review.html", session, page="review", notice=notice, current=None
            )
        ids = [item.id for item in items]
        at = ids.index(current.id) if current.id in ids else -1
        prev_id = ids[at - 1] if at > 0 else None
        next_id = ids[at + 1] if 0 <= at < len(ids) - 1 else None
        return self._render(
            request,
            "review.html",
            session,
            page="review",
            notice=notice,
            items=items,
            open_count=open_count,
            current=current,
            prev_id=prev_id,
            next_id=next_id,
            # After a decision the page moves on: to the next item, else the previous.
            after_id=next_id if next_id is not None else prev_id,
            reviewer=session.reviewer,
        )

    async def decide(self, request: Request) -> Response:
        session, answer = self._guard(request, "/review")
        if answer is not None:
            return answer
        assert session is not None  # noqa: S101 - _guard returns one or the other
        form = await self._form(request)
        if form is None or not self._csrf_ok(session, form):
            return self._message(
                request,
                session,
                403,
                "Forbidden",
                "The form did not come from this site (its CSRF token is missing or "
                "wrong); reload the page and decide again.",
                back="/review",
            )
        item_id = _int(form.get("id"))
        decision = form.get("decision", "")
        reviewer = form.get("reviewer", "").strip()
        note = form.get("note", "").strip() or None
        problem = _form_problem(item_id, decision, reviewer, note)
        if problem is not None:
            return self._message(request, session, 400, "Bad request", problem, back="/review")
        assert item_id is not None  # noqa: S101 - _form_problem checked it
        store = self._store()
        if store is None:
            return self._no_store(request, session)
        remembered = Session(session.csrf, session.issued_at, session.logged_in, reviewer)
        try:
            refused = await run_in_threadpool(_decide, *store, item_id, decision, reviewer, note)
        except (sa.exc.SQLAlchemyError, StoreUnavailable) as exc:
            return self._store_down(
                request,
                remembered,
                exc,
                back="/review",
                what=f"Review item #{item_id} was not decided. ",
            )
        if refused is None:
            outbox_written(self.state)  # review.decided: send it now
        if refused == "missing":
            return self._message(
                request,
                remembered,
                404,
                "Not found",
                f"There is no review item #{item_id}.",
                back="/review",
            )
        if refused == "closed":
            return self._message(
                request,
                remembered,
                409,
                "Already decided",
                f"Review item #{item_id} was already decided (by someone else?).",
                back="/review",
            )
        if refused is not None:
            return self._message(request, remembered, 400, "Bad request", refused, back="/review")
        following = _int(form.get("next"))
        target = f"/review?decided={item_id}&decision={decision}"
        if following is not None:
            target += f"&item={following}"
        return self._redirect(request, target, remembered)

    # -- /dashboard -----------------------------------------------------------------

    async def dashboard(self, request: Request) -> Response:
        session, answer = self._guard(request, "/dashboard")
        if answer is not None:
            return answer
        assert session is not None  # noqa: S101 - _guard returns one or the other
        store = self._store()
        if store is None:
            return self._no_store(request, session)
        since = request.query_params.get("since", "24h")
        engine, clock = store
        try:
            if since not in SINCE_CHOICES:
                raise InvalidContent(f"since must be one of {', '.join(SINCE_CHOICES)}")
            figures = await run_in_threadpool(_dashboard_figures, engine, clock(), since)
        except InvalidContent as exc:
            return self._message(request, session, 400, "Bad range", str(exc), back="/dashboard")
        except (sa.exc.SQLAlchemyError, StoreUnavailable) as exc:
            return self._store_down(request, session, exc, back="/dashboard")
        return self._render(
            request,
            "dashboard.html",
            session,
            page="dashboard",
            since=since,
            since_choices=SINCE_CHOICES,
            charts=CHARTS,
            **figures,
        )


def _next_path(value: str | None) -> str:
    """Where a login goes on to: one of the pages, never a URL someone else chose."""
    return value if value in ("/review", "/dashboard") else "/review"


def _int(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def _notice(query: Mapping[str, str]) -> str | None:
    decided, decision = _int(query.get("decided")), query.get("decision")
    if decided is None or decision not in _DECISIONS:
        return None
    return f"Item #{decided} {'approved' if decision == 'approve' else 'rejected'}."


def _form_problem(
    item_id: int | None, decision: str, reviewer: str, note: str | None
) -> str | None:
    if item_id is None:
        return "The form names no review item."
    if decision not in _DECISIONS:
        return "The decision must be approve or reject."
    if not reviewer:
        return "Enter your name as the reviewer."
    if len(reviewer) > MAX_REVIEWER_CHARS:
        return f"The reviewer's name is longer than {MAX_REVIEWER_CHARS} characters."
    if "\x00" in reviewer or (note is not None and "\x00" in note):
        # The store keeps no NUL (PostgreSQL's text refuses it): say so, not "store down".
        return "The reviewer's name and the note cannot hold NUL characters."
    if note is not None and len(note) > MAX_NOTE_CHARS:
        return f"The note is longer than {MAX_NOTE_CHARS} characters."
    return None


# -- store access (in a worker thread) ----------------------------------------------


def _open_items(
    engine: sa.Engine, clock: Callable[[], float], wanted: int | None
) -> tuple[list[ReviewItem], ReviewItem | None, int]:
    """The first open items, the one to show (``wanted`` while it is open, else the
    first) and how many are open in all."""
    queue = ReviewQueue(engine, clock=clock)
    items = queue.list(status="open", limit=QUEUE_PAGE)
    current = next((item for item in items if item.id == wanted), None)
    if current is None and wanted is not None:
        with contextlib.suppress(ReviewNotFound):
            found = queue.get(wanted)
            current = found if found.status == "open" else None
    if current is None and items:
        current = items[0]
    return items, current, queue.count("open")


def _decide(
    engine: sa.Engine,
    clock: Callable[[], float],
    item_id: int,
    decision: str,
    reviewer: str,
    note: str | None,
) -> str | None:
    """None when the decision was recorded, else why not (the page's message)."""
    try:
        ReviewQueue(engine, clock=clock).decide(item_id, decision, reviewer, note)
    except ReviewNotFound:
        return "missing"
    except ReviewClosed:
        return "closed"
    except InvalidContent as exc:
        return str(exc)
    return None


def _dashboard_figures(engine: sa.Engine, now: float, since_text: str) -> dict[str, Any]:
    since, until = _stats.parse_range(since_text, None, now=now)
    if until - since > MAX_DASHBOARD_SPAN:
        raise InvalidContent("the dashboard shows at most 31 days")
    summary = _stats.stats(engine, since=since, until=until, by="label")
    per_hour = _stats.hourly(engine, since, until)
    senders = _stats.sender_ranking(engine, since=since, until=until, limit=RANKING_ROWS)
    keywords = _stats.keyword_ranking(engine, since=since, until=until, limit=RANKING_ROWS)
    open_reviews = ReviewQueue(engine).count("open")
    data = chart_data(
        summary=summary,
        per_hour=per_hour,
        senders=senders,
        keywords=keywords,
        since=since,
        until=until,
    )
    return {
        "summary": summary,
        "senders": senders,
        "keywords": keywords,
        "open_reviews": int(open_reviews),
        "range_since": since,
        "range_until": until,
        "data_json": json_for_script(data),
    }


def page_routes(state: AppState) -> list[BaseRoute]:
    """The pages' routes, for ``create_app``."""
    pages = Pages(state)
    return [
        Route("/login", pages.login_page, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/review", pages.review_page, methods=["GET"]),
        Route("/review", pages.decide, methods=["POST"]),
        Route("/dashboard", pages.dashboard, methods=["GET"]),
        Mount(STATIC_PREFIX, StaticFiles(directory=_HERE / "static"), name="pages-static"),
    ]
