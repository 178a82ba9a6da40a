"""`lab cohort serve`: the facilitator's web app, the collector, and the gateway, on one port.

Framework: Flask (already installed with moto) for routing, templates and the
signed session cookie, served by Hypercorn (installed with ministack), a
production ASGI server with TLS support. A small ASGI dispatcher sends signed
AWS requests to the gateway (async, streaming) and everything else to Flask.

Routes (everything of ours lives under /_cohort/, a path no AWS API uses):

    GET  /_cohort/                       dashboard (login form without a session)
    POST /_cohort/login | /_cohort/logout
    GET  /_cohort/partials/dashboard     the dashboard's live fragment (ETag; polled)
    GET  /_cohort/api/grid               the dashboard as JSON               facilitator
    GET  /_cohort/api/grades[.csv|.json] one row per learner                  facilitator
    POST /_cohort/api/check              grade every account now (shared)     facilitator
    POST /_cohort/api/submissions        a signed learner submission          learner signature
    GET  /_cohort/api/me                 who the learner is; shared or not    learner signature
    GET  /_cohort/healthz                {"ok": true}                          anyone

Facilitator authentication: ``Authorization: Bearer <facilitator token>`` (for
scripts), or the session cookie set by the login form (HttpOnly,
SameSite=Strict, Secure under TLS; POSTs also need ``X-Requested-With``). A
missing or wrong token answers 401; a learner's token answers 403.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlencode

from flask import Flask, Response, redirect, render_template_string, request, session

from .. import catalog
from . import analysis, assets, grader, protocol
from .gateway import Gateway, _headers, _respond, is_aws_request, read_body
from .store import CohortStore

WEB_MAX_BODY = protocol.MAX_SUBMISSION_BYTES
DRAIN_LIMIT = 8 * WEB_MAX_BODY  # an oversize body up to this size is read and dropped before the 413
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class GradingRunner:
    """One central grading run at a time, in the background of the server."""

    def __init__(self, store: CohortStore, learner_code: bool = True):
        self.store = store
        self.learner_code = learner_code
        self._lock = threading.Lock()
        self.state = {"running": False, "lab": None, "done": 0, "total": 0, "seconds": None, "error": None, "runs": 0}

    def start(self, lab_id: str) -> bool:
        with self._lock:
            if self.state["running"]:
                return False
            self.state.update(running=True, lab=lab_id, done=0, total=len(self.store.learners()), error=None)
        threading.Thread(target=self._run, args=(lab_id,), daemon=True, name="cohort-grading").start()
        return True

    def _progress(self, done: int, total: int) -> None:
        self.state.update(done=done, total=total)

    def _run(self, lab_id: str) -> None:
        try:
            result = grader.run(self.store, lab_id, learner_code=self.learner_code, progress=self._progress)
            self.state.update(seconds=round(result.seconds, 1),
                              error=f"{len(result.failed)} accounts could not be graded" if result.failed else None)
        except Exception as exc:  # noqa: BLE001 - shown on the dashboard instead
            self.state.update(error=str(exc)[:200])
        finally:
            self.state.update(running=False, runs=self.state["runs"] + 1)


def _clock(iso_time: str | None) -> str:
    """HH:MM:SS in the server's (the facilitator's) local time."""
    if not iso_time:
        return ""
    from datetime import datetime

    return datetime.fromisoformat(iso_time.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def create_app(store: CohortStore, shared: bool, gateway: Gateway | None = None,
               runner: GradingRunner | None = None, stuck_minutes: float = analysis.DEFAULT_STUCK_MINUTES,
               tls: bool = False, engine_url: str | None = None) -> Flask:
    app = Flask("labkit.cohort")
    meta = store.meta()
    app.secret_key = meta["session_secret"]
    app.config.update(
        SESSION_COOKIE_NAME="lab_cohort",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=tls,
        SESSION_COOKIE_PATH="/_cohort",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=WEB_MAX_BODY,
    )
    labs = {lab_id: catalog.get(lab_id) for lab_id in store.labs()}
    runner = runner or GradingRunner(store)
    cache: dict = {}

    # -- who is asking -------------------------------------------------------------------------------
    def facilitator_hash() -> str:
        return store.meta()["facilitator_token_sha256"]

    def facilitator() -> tuple[bool, Response | None]:
        """(ok, error response) for a facilitator-only request."""
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[7:].strip()
            if hmac.compare_digest(protocol.token_hash(token), facilitator_hash()):
                return True, None
            if protocol.looks_like_learner_token(token):
                return False, _json({"error": "This is a learner token; the dashboard and grades need the facilitator token."}, 403)
            return False, _json({"error": "Wrong facilitator token."}, 401, {"WWW-Authenticate": 'Bearer realm="lab cohort"'})
        if session.get("facilitator") and hmac.compare_digest(session["facilitator"], facilitator_hash()[:32]):
            return True, None
        return False, _json({"error": "Sign in with the facilitator token (or send Authorization: Bearer <token>)."}, 401,
                            {"WWW-Authenticate": 'Bearer realm="lab cohort"'})

    def learner_from_request() -> tuple[object, Response | None]:
        account = request.headers.get("X-Lab-Learner", "")
        learner = store.learner(account) if account else None
        if learner is None or not protocol.verify_request(learner.token, request.method, request.path,
                                                          request.headers.get("X-Lab-Time", ""),
                                                          request.headers.get("X-Lab-Signature", "")):
            return None, _json({"error": "Unknown learner or bad signature (is your clock right? it may be 5 min off at most)."}, 403)
        return learner, None

    # -- pages --------------------------------------------------------------------------------------------
    def grid_document() -> dict:
        sources = request.args.get("sources", "all")
        if sources not in analysis.SOURCES:
            sources = "all"
        try:
            stuck = float(request.args.get("stuck", stuck_minutes))
        except ValueError:
            stuck = stuck_minutes
        version = store.version()
        minute = int(time.time() // 60)  # "stuck" changes with the clock, not only with the data
        key = (version, minute, sources, stuck)
        cached = cache.get("entry")
        if cached is None or cached[0] != key:
            cached = (key, analysis.build(store.snapshot(), labs, stuck_minutes=stuck, sources=sources))
            cache["entry"] = cached  # one tuple swap: readers on other threads see the old or the new pair
        return cached[1]

    def etag(grid: dict) -> str:
        state = runner.state
        minute = int(time.time() // 60)
        return (f'W/"{grid["version"]}-{minute}-{grid["sources"]}-{grid["stuck_minutes"]}-'
                f'{state["runs"]}-{state["done"]}-{state["running"]}"')

    def fragment(grid: dict) -> str:
        return render_template_string(assets.FRAGMENT, grid=grid, shared=shared, grading=runner.state, duration=_duration, clock=_clock)

    @app.get("/_cohort/")
    def dashboard():
        ok, _ = facilitator()
        if not ok:
            return _page(render_template_string(assets.LOGIN, name=store.name, error=None))
        grid = grid_document()
        query = "?" + urlencode({k: v for k, v in request.args.items() if k in ("sources",)}) if request.args.get("sources") else ""
        mode = "shared emulator" if shared else "collector only"
        return _page(render_template_string(assets.PAGE, grid=grid, fragment=fragment(grid), etag=etag(grid),
                                            mode=mode, query=query))

    @app.get("/_cohort")
    def dashboard_slash():
        return redirect("/_cohort/")

    @app.post("/_cohort/login")
    def login():
        token = (request.form.get("token") or "").strip()
        if token and hmac.compare_digest(protocol.token_hash(token), facilitator_hash()):
            session.clear()
            session.permanent = True
            session["facilitator"] = facilitator_hash()[:32]
            return redirect("/_cohort/", code=303)
        time.sleep(0.5)
        message = ("That is a learner token; the dashboard needs the facilitator token."
                   if protocol.looks_like_learner_token(token) else "That is not the facilitator token.")
        status = 403 if protocol.looks_like_learner_token(token) else 401
        return _page(render_template_string(assets.LOGIN, name=store.name, error=message), status)

    @app.post("/_cohort/logout")
    def logout():
        session.clear()
        return redirect("/_cohort/", code=303)

    @app.get("/_cohort/partials/dashboard")
    def partial():
        ok, error = facilitator()
        if not ok:
            return error
        grid = grid_document()
        tag = etag(grid)
        if request.headers.get("If-None-Match") == tag:
            return Response(status=304, headers={"ETag": tag, "Cache-Control": "no-store"})
        return Response(fragment(grid), headers={"ETag": tag, "Cache-Control": "no-store",
                                                 "Content-Type": "text/html; charset=utf-8"})

    @app.get("/_cohort/static/dashboard.js")
    def script():
        return Response(assets.JS, mimetype="text/javascript", headers={"Cache-Control": "no-cache"})

    @app.get("/_cohort/static/dashboard.css")
    def stylesheet():
        return Response(assets.CSS, mimetype="text/css", headers={"Cache-Control": "no-cache"})

    # -- facilitator API -----------------------------------------------------------------------------------
    @app.get("/_cohort/api/grid")
    def api_grid():
        ok, error = facilitator()
        if not ok:
            return error
        grid = grid_document()
        tag = etag(grid)
        if request.headers.get("If-None-Match") == tag:
            return Response(status=304, headers={"ETag": tag})
        return _json({**grid, "grading": runner.state}, 200, {"ETag": tag})

    @app.get("/_cohort/api/grades")
    @app.get("/_cohort/api/grades.<fmt>")
    def api_grades(fmt: str | None = None):
        ok, error = facilitator()
        if not ok:
            return error
        fmt = fmt or request.args.get("format", "json")
        policy = request.args.get("policy", "best")
        sources = request.args.get("sources", "all")
        if fmt not in ("csv", "json") or policy not in analysis.POLICIES or sources not in analysis.SOURCES:
            return _json({"error": "format is csv or json; policy best or latest; sources all, central or learner."}, 400)
        document = analysis.grades(store.snapshot(), labs, policy=policy, sources=sources)
        filename = f"grades-{store.name}.{fmt}"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}
        if fmt == "csv":
            return Response(analysis.grades_csv(document), headers=headers, mimetype="text/csv")
        return _json(document, 200, headers)

    @app.post("/_cohort/api/check")
    def api_check():
        ok, error = facilitator()
        if not ok:
            return error
        if "Authorization" not in request.headers and request.headers.get("X-Requested-With") != "lab-dashboard":
            return _json({"error": "Missing X-Requested-With header."}, 403)
        if not shared:
            return _json({"error": "This server runs no shared emulator: learners grade on their own laptops."}, 409)
        body = request.get_json(silent=True) or {}
        lab_id = body.get("lab")
        if lab_id not in labs:
            return _json({"error": f"lab must be one of {', '.join(labs)}."}, 400)
        started = runner.start(lab_id)
        return _json({"started": started, "grading": runner.state}, 202 if started else 409)

    # -- learner API -------------------------------------------------------------------------------------------
    @app.post("/_cohort/api/submissions")
    def api_submit():
        raw = request.get_data(cache=False)
        try:
            payload, signature = protocol.split_envelope(protocol.parse_json(raw))
            learner = store.learner(str(payload.get("learner", "")))
            protocol.verify(payload, signature, learner.token if learner else None)
            submission = protocol.validate(payload, signature, cohort_id=meta["cohort_id"], labs=labs)
        except protocol.Rejected as rejected:
            return _json({"error": rejected.message}, rejected.status)
        stored = store.ingest(submission, source="collector")
        return _json({"stored": stored, "duplicate": not stored, "nonce": submission.nonce}, 201 if stored else 200)

    @app.get("/_cohort/api/me")
    def api_me():
        learner, error = learner_from_request()
        if error:
            return error
        return _json({"cohort": store.name, "cohort_id": meta["cohort_id"], "shared_emulator": shared,
                      "learner": {"id": learner.id, "name": learner.name, "account": learner.account_id},
                      "labs": list(labs)})

    @app.get("/_cohort/healthz")
    def health():
        return _json({"ok": True})

    # -- not ours: the AWS side without a signature ------------------------------------------------------------
    @app.get("/_localstack/health")
    def engine_health():
        if not engine_url:
            return _json({"error": "no shared emulator"}, 404)
        from ..backends import http_get_json

        return _json(http_get_json(engine_url + "/_localstack/health", timeout=3) or {}, 200)

    @app.get("/")
    def landing():
        text = (f"lab cohort {store.name}: " + ("this is the workshop's AWS endpoint (sign requests with your account id); "
                                               if shared else "") + "facilitators: /_cohort/\n")
        return Response(text, mimetype="text/plain")

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_ours(error):
        if request.path.startswith("/_cohort"):
            return _json({"error": f"{request.method} {request.path} is not a lab cohort endpoint."}, error.code)
        return Response('<?xml version="1.0"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>MissingAuthenticationToken'
                        "</Code><Message>lab cohort: unsigned requests are not accepted; set AWS_ACCESS_KEY_ID to your "
                        "account id from the instruction sheet.</Message></Error></ErrorResponse>", 403,
                        mimetype="text/xml")

    @app.errorhandler(413)
    def too_large(error):
        return _json({"error": f"The request is larger than {WEB_MAX_BODY} bytes."}, 413)

    @app.after_request
    def harden(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path.startswith("/_cohort/api") or request.path.startswith("/_cohort/partials"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.extensions["lab_cohort_runner"] = runner
    return app


def _json(document, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(document, ensure_ascii=False), status=status, headers=headers or {},
                    mimetype="application/json")


def _page(html: str, status: int = 200) -> Response:
    return Response(html, status=status, headers={"Cache-Control": "no-store"}, mimetype="text/html")


class CohortASGI:
    """Signed AWS requests -> gateway; everything else -> the Flask app (bodies capped, 413 past the cap)."""

    def __init__(self, app: Flask, gateway: Gateway | None):
        from hypercorn.middleware import AsyncioWSGIMiddleware

        self.gateway = gateway
        self.wsgi = AsyncioWSGIMiddleware(app, max_body_size=WEB_MAX_BODY + 1)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = _headers(scope)
        if is_aws_request(headers, scope.get("query_string", b"").decode("latin-1")):
            if self.gateway is None:
                await _respond(send, 403, [(b"content-type", b"text/xml")],
                               b'<?xml version="1.0"?>\n<ErrorResponse><Error><Code>AccessDenied</Code><Message>lab cohort: '
                               b"this server collects results only; it runs no shared emulator.</Message></Error></ErrorResponse>")
                return
            await self.gateway.handle(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > WEB_MAX_BODY:
            if int(declared) <= DRAIN_LIMIT:
                await read_body(receive, DRAIN_LIMIT)  # take it first, so the client reads our 413, not a reset
            await _too_large(send)
            return
        body = await read_body(receive, WEB_MAX_BODY)
        if body is None:
            await _too_large(send)
            return
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.wsgi(scope, replay, send)


async def _too_large(send) -> None:
    body = json.dumps({"error": f"The request is larger than {WEB_MAX_BODY} bytes."}).encode()
    await _respond(send, 413, [(b"content-type", b"application/json")], body)


# -- running it --------------------------------------------------------------------------------------------------------
def serve(store: CohortStore, host: str, port: int, engine_name: str | None, certfile: str | None = None,
          keyfile: str | None = None, stuck_minutes: float = analysis.DEFAULT_STUCK_MINUTES,
          grade_every: float | None = None, learner_code: bool = True, keep_emulator: bool = False,
          announce=print) -> None:
    """Run until SIGINT/SIGTERM. engine_name None: collector only (Mode 2)."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    from ..backends import port_is_free
    from ..errors import EmulatorError
    from . import engine

    if engine.server_info(store) is not None:
        raise EmulatorError(f"`lab cohort serve` already runs for cohort {store.name}.",
                            fix="use that one, or stop it first (Ctrl-C in its terminal)")
    if not port_is_free(port, host if host not in ("0.0.0.0", "::") else "0.0.0.0"):
        raise EmulatorError(f"Port {port} on {host} is already in use.", fix=f"pass --port {port + 1}")
    state, gateway = None, None
    if engine_name:
        state, reason = engine.start_engine(store, engine_name)
        announce(reason)
        gateway = Gateway(store, state.url, engine_name)
    runner = GradingRunner(store, learner_code=learner_code)
    tls = bool(certfile and keyfile)
    app = create_app(store, shared=gateway is not None, gateway=gateway, runner=runner, stuck_minutes=stuck_minutes,
                     tls=tls, engine_url=state.url if state else None)
    asgi = CohortASGI(app, gateway)

    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.keep_alive_timeout = 30
    config.graceful_timeout = 3
    config.wsgi_max_body_size = WEB_MAX_BODY + 1
    if tls:
        config.certfile, config.keyfile = certfile, keyfile
    scheme = "https" if tls else "http"
    local_host = "127.0.0.1" if host in ("0.0.0.0", "::", "127.0.0.1", "localhost") else host
    import psutil

    me = psutil.Process(os.getpid())
    engine.record_server(store, {"pid": me.pid, "pid_created": me.create_time(), "host": host, "port": port,
                                 "local_url": f"{scheme}://{local_host}:{port}",
                                 "engine": state.to_dict() if state else None})

    stop = threading.Event()

    def background():
        last_grade = time.monotonic()
        while not stop.wait(2.0):
            if gateway is not None:
                try:
                    gateway.flush_activity()
                except Exception:  # noqa: BLE001 - a busy database must not end the server
                    pass
            if grade_every and time.monotonic() - last_grade >= grade_every and not runner.state["running"]:
                last_grade = time.monotonic()
                for lab_id in store.labs():
                    runner.start(lab_id)
                    while runner.state["running"] and not stop.is_set():
                        time.sleep(0.5)

    worker = threading.Thread(target=background, daemon=True, name="cohort-background")
    worker.start()

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=256, thread_name_prefix="cohort-http"))
        shutdown = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, shutdown.set)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread (tests), or Windows: Ctrl-C still ends asyncio.run
        announce(f"Serving cohort {store.name} on {scheme}://{host}:{port} "
                 f"(dashboard: {scheme}://{local_host}:{port}/_cohort/). Ctrl-C stops it.")
        await hypercorn_serve(asgi, config, shutdown_trigger=shutdown.wait, mode="asgi")

    try:
        asyncio.run(main())
    finally:
        stop.set()
        if gateway is not None:
            gateway.flush_activity()
            gateway.close()
        engine.forget_server(store)
        if state is not None and not keep_emulator:
            announce(engine.stop_engine(store))

