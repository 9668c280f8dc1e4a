"""The service's ASGI app: its routes, the guard in front of them, and reading request bodies by hand.

liveness_api.py is the command (flags, start-up, uvicorn); this is what it serves. The rules behind the
routes live beside it: decisions and the publish folder (core.py), scoring processes (scorers.py), liveness
sessions (sessions.py), keys, limits and shared state, telemetry.
"""
import asyncio
import base64
import binascii
import json
import os
import re
import time

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.datastructures import MutableHeaders, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from liveness.errors import ApiError
from liveness.service.api_keys import ApiKeys, key_from_headers
from liveness.service.core import LivenessService, Settings
from liveness.service.ratelimit import PendingLimit, RateLimit
from liveness.service.scorers import FORMATS, yield_to_scorers
from liveness.service.shared_state import SharedState, StateUnavailable, is_shared, redis_client
from liveness.service.telemetry import AccessLog, Metrics, request_id
from liveness.sessions.camera import check_jpeg
from liveness.sessions.flow import SessionFlow
from liveness.sessions.store import SessionSettings, SessionStore, Unavailable
from liveness.sessions.views import CREATED, SUCCEEDED, result_view

SETTINGS_ENV = "LIVENESS_API_SETTINGS"

REQUEST_BODY = {  # the body is read by hand (to cap its size), so its schema is stated here for /docs
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string", "format": "binary"}}}},
        "application/json": {"schema": {"type": "object", "required": ["image_base64"],
                                        "properties": {"image_base64": {"type": "string"}}}},
    },
}


CLIENT_LEFT = 499  # nginx's "client closed request": counted and logged, but no server error


async def read_body(request, max_bytes):
    """The request body, refused with 413 as soon as it passes `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"upload over {max_bytes / 1e6:g} MB")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise ApiError(413, f"upload over {max_bytes / 1e6:g} MB")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(CLIENT_LEFT, "the client closed the connection before its upload was complete") from None
    return b"".join(chunks)


class UploadParser(MultiPartParser):
    """Starlette's multipart parser, which also takes a part named by RFC 2231's `filename*=` as a file."""

    def on_header_end(self):
        name, value = self._current_partial_header_name.lower(), self._current_partial_header_value
        if name == b"content-disposition" and b"filename*=" in value.lower() and b"filename=" not in value.lower():
            self._current_partial_header_value = value + b'; filename="upload"'
        super().on_header_end()


async def image_bytes(request, max_bytes, json_allowed=True):
    """The encoded image from a multipart `file` field or (`json_allowed`) a JSON `image_base64` field."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not json_allowed and content_type != "multipart/form-data":
        raise ApiError(415, "send the frame as multipart/form-data with a 'file' field holding a JPEG")
    if content_type not in ("multipart/form-data", "application/json"):
        raise ApiError(415, f"send multipart/form-data with a 'file' field, or JSON with 'image_base64' ({FORMATS})")
    body = await read_body(request, max_bytes)
    if content_type == "application/json":
        try:
            payload = json.loads(body)
            encoded = payload["image_base64"]
            if "," in encoded[:100] and encoded.startswith("data:"):
                encoded = encoded.split(",", 1)[1]  # a data: URL
            # line breaks and spaces inside, as `base64` wraps at 76 columns; anything else stays refused
            return base64.b64decode("".join(encoded.split()), validate=True)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, RecursionError):
            raise ApiError(422, "JSON body must be an object with 'image_base64' holding base64 image bytes") from None

    async def stream():
        yield body

    try:
        form = await UploadParser(request.headers, stream()).parse()
    except MultiPartException as error:
        raise ApiError(422, f"malformed multipart body: {error.message}") from None
    try:
        uploads = form.getlist("file")
        if len(uploads) > 1:
            raise ApiError(422, f"multipart body has {len(uploads)} 'file' parts; send one image a request")
        if not uploads or not isinstance(uploads[0], UploadFile):
            raise ApiError(422, "multipart body needs a 'file' field holding the image")
        return await uploads[0].read()
    finally:
        await form.close()


class GuardAndAccount:
    """Plain ASGI middleware: refuses before the body is read, stamps X-Request-ID, logs and counts every answer.

    Written against ASGI rather than with @app.middleware: under a flood the service answers hundreds of
    refusals a second, and Starlette's BaseHTTPMiddleware costs a task group and two streams for each.
    """

    def __init__(self, app, admit, account):
        self.app, self.admit, self.account = app, admit, account

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        rid, started = request_id(request.headers), time.perf_counter()
        name, refused = await self.admit(request)
        scope.setdefault("state", {})["key_name"] = name
        status = {"code": 500}

        async def stamped(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        try:
            await (refused or self.app)(scope, receive, stamped)
        finally:
            self.account(request, rid, name, status["code"], time.perf_counter() - started)


BUSY = "too many requests in progress; try again shortly"
UNCOUNTED = "the service cannot check its rate limit right now; try again shortly"
KNOWN_PATHS = ("/v1/liveness", "/v1/sessions", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/capture")
SESSION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")  # uuid4, lower case
FRAMES_PATH = re.compile(r"^/v1/sessions/([0-9a-f-]{36})/frames$")  # authorised by the session's token alone
SESSION_OPTIONS_MAX_BYTES = 4096  # {"frames": 10, "audit_images": 3} and room to spare
SESSION_FRAME_MAX_BYTES = 2_000_000  # a frame a page sends is a JPEG from a canvas; kept until the session decides
FRAME_BODY = {"required": True, "content": {"multipart/form-data": REQUEST_BODY["content"]["multipart/form-data"]}}
CAPTURE_PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "capture.html")


def bearer(headers):
    """The token of `Authorization: Bearer <token>`, or of `X-Session-Token`, or None."""
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return headers.get("x-session-token")


def known_path(path):
    """The path as the access log and the metrics name it: sessions by their route, not their id."""
    if path in KNOWN_PATHS:
        return path
    if FRAMES_PATH.match(path):
        return "/v1/sessions/{id}/frames"
    if path.startswith("/v1/sessions/"):
        return "/v1/sessions/{id}"
    return "other"


def refusal(status, detail, **headers):
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(settings, service=None):
    """The FastAPI app; the model loads at start-up unless a loaded `service` is given."""
    state = {"service": service, "metrics": Metrics(service.identity) if service else None}
    keys = ApiKeys.load(settings.api_keys) if settings.api_keys else None
    limiter = RateLimit(settings.rate_limit, SharedState(settings.state)) if settings.rate_limit else None
    pending = PendingLimit(settings.max_pending)  # requests being scored or waiting for a scorer
    uploads = PendingLimit(settings.max_uploads)  # bodies still arriving: slow clients wait here, not for a scorer
    access = AccessLog()
    session_limits = SessionSettings(ttl=settings.session_ttl, max_open=settings.max_sessions_per_key,
                                     max_total=settings.max_sessions, owner_bytes=settings.session_owner_mb * 1e6,
                                     total_bytes=settings.session_total_mb * 1e6)
    if is_shared(settings.state):
        import redis

        sessions = SessionStore(session_limits, redis_client(settings.state), (redis.RedisError, OSError))
    else:
        sessions = SessionStore(session_limits)
    flow = SessionFlow(sessions, open_service=keys is None, operating_point=settings.operating_point)

    async def lifespan(app):
        if state["service"] is None:
            state["service"] = LivenessService(settings)
            state["metrics"] = Metrics(state["service"].identity)
        yield_to_scorers()  # the event loop, refusals included, takes only the CPU that scoring leaves
        yield
        state["service"].close()

    app = FastAPI(title="Face liveness", version="1", lifespan=lifespan,
                  redirect_slashes=False,  # a redirect would be built from the client's Host header
                  docs_url="/docs" if settings.docs else None, redoc_url=None,
                  openapi_url="/openapi.json" if settings.docs else None,
                  description="Tells live faces from presentation attacks (photos, replayed videos).")

    async def admit(request):
        """(key name, refusal or None): the key, then its rate, then room in the queue; no body read yet."""
        path = request.url.path
        frames = FRAMES_PATH.match(path)
        guarded = (path.startswith("/v1/") and not frames) or (path == "/metrics" and settings.metrics_private)
        name = "anonymous"
        if guarded and keys is not None:
            name = keys.name_of(key_from_headers(request.headers))
            if name is None:
                return None, refusal(401, "a valid API key is needed: Authorization: Bearer <key>, or X-API-Key",
                                     **{"WWW-Authenticate": "Bearer"})
        if not path.startswith("/v1/"):
            return name, None
        if limiter is not None:
            client = name if keys is not None else (request.client.host if request.client else "unknown")
            if frames:  # a session's frames count against the session: its token is its only credential
                client = f"session:{frames.group(1)}"
            try:
                allowed, wait = await limiter.allow(client)
            except StateUnavailable:  # never let a request through unchecked
                return name, refusal(503, UNCOUNTED, **{"Retry-After": "1"})
            if not allowed:
                return name, refusal(429, f"over the rate limit of {settings.rate_limit}", **{"Retry-After": str(wait)})
        if pending.full():  # a flood is refused before its bodies are read; the slot is taken once the body is in
            return name, refusal(503, BUSY, **{"Retry-After": "1"})
        return name, None

    def account(request, rid, name, status, seconds):
        path = known_path(request.url.path)
        decision, faces = request.scope["state"].get("decision"), request.scope["state"].get("faces")
        access.write(rid, name, request.method, path, status, seconds, decision, faces)
        if state["metrics"] is not None:
            state["metrics"].observe(path, status, seconds, decision, faces)

    app.add_middleware(GuardAndAccount, admit=admit, account=account)

    @app.exception_handler(ApiError)
    async def api_error(request, error):
        return JSONResponse({"detail": error.detail}, status_code=error.status, headers=error.headers)

    @app.exception_handler(Unavailable)
    async def state_unavailable(request, error):
        return JSONResponse({"detail": "the session store cannot be reached right now; try again shortly"},
                            status_code=503, headers={"Retry-After": "1"})

    @app.get("/metrics")
    async def metrics():
        """Prometheus metrics: requests by status, latency, decisions, faces per image, the model's SHA-256."""
        if state["metrics"] is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        body, content_type = state["metrics"].exposition()
        return Response(body, media_type=content_type)

    @app.get("/healthz")
    async def healthz():
        """The process is up and answering."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        """The model is loaded and requests can be scored."""
        if state["service"] is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        problem = state["service"].pool.unready_reason()
        if problem is not None:  # every scoring process failed to load the model: the reason, for the operator
            return JSONResponse({"status": "unavailable", "detail": problem}, status_code=503)
        return {"status": "ready", "model": state["service"].identity}

    async def receive_image(request, max_bytes, json_allowed=True):
        """The uploaded image's bytes: a slot among --max-uploads while it arrives, within --body-timeout."""
        if not uploads.enter():
            raise ApiError(503, "too many uploads in progress; try again shortly")
        try:
            async with asyncio.timeout(settings.body_timeout):
                data = await image_bytes(request, max_bytes, json_allowed)
        except TimeoutError:
            raise ApiError(408, f"the request body did not arrive within {settings.body_timeout:g} s") from None
        finally:
            uploads.leave()
        if not data:
            raise ApiError(422, "empty image")
        return data

    async def holding_a_slot(scoring):
        """The awaited `scoring` (a scorer's answer), holding a --max-pending slot meanwhile; 503 when none is free."""
        if not pending.enter():
            scoring.close()
            raise ApiError(503, BUSY, {"Retry-After": "1"})
        try:
            return await scoring
        finally:
            pending.leave()

    def loaded():
        if state["service"] is None:
            raise ApiError(503, "model still loading")
        return state["service"]

    @app.post("/v1/liveness", openapi_extra={"requestBody": REQUEST_BODY})
    async def liveness(request: Request):
        """Score every face of one image."""
        service = loaded()
        data = await receive_image(request, service.max_bytes)
        answer = await holding_a_slot(service.score(data, key_name=request.scope["state"]["key_name"]))
        request.scope["state"].update(decision=answer["decision"], faces=len(answer["faces"]))
        return answer

    @app.post("/v1/sessions", status_code=201)
    async def create_session(request: Request):
        """A liveness session for one person: its id, its token (for the page that sends the frames) and the
        capture page's URL. JSON options: frames (how many it counts), audit_images (how many it keeps), challenge
        ("head_movements", the default: the page asks for head movements the server picks; "none": passive)."""
        options = {}
        body = await read_body(request, SESSION_OPTIONS_MAX_BYTES)
        if body.strip():
            try:
                options = json.loads(body)
                assert isinstance(options, dict)
            except (ValueError, AssertionError, RecursionError):
                raise ApiError(422, "the body must be a JSON object, such as {\"frames\": 10}") from None
        limits = sessions.settings
        frames = options.get("frames", limits.default_frames)
        audit = options.get("audit_images", min(limits.default_audit, frames if isinstance(frames, int) else 0))
        if not isinstance(frames, int) or isinstance(frames, bool) or not 1 <= frames <= limits.max_frames:
            raise ApiError(422, f"frames must be a whole number from 1 to {limits.max_frames}")
        if not isinstance(audit, int) or isinstance(audit, bool) or not 0 <= audit <= min(frames, limits.max_audit):
            raise ApiError(422, f"audit_images must be a whole number from 0 to frames, at most {limits.max_audit}")
        challenge = options.get("challenge", "head_movements")
        if challenge not in ("head_movements", "none"):
            raise ApiError(422, "challenge must be \"head_movements\" (the default) or \"none\" (a passive session)")
        created = flow.create(owner_of(request), frames, audit, with_challenge=challenge != "none")
        return {**created, "status": CREATED, "frames": frames, "audit_images": audit,
                "capture_url": f"/capture?session={created['id']}&token={created['token']}"}

    def owner_of(request):
        """Whose bounds a session counts against: its API key's name, or without keys the client's address."""
        if keys is not None:
            return request.scope["state"]["key_name"]
        return f"address:{request.client.host if request.client else 'unknown'}"

    @app.post("/v1/sessions/{session_id}/frames", openapi_extra={"requestBody": FRAME_BODY})
    async def session_frame(session_id: str, request: Request):
        """One camera frame of a session (a JPEG, multipart 'file'), authorised by the session's token. The
        answer is the session's progress, a hint and the face box; at the end "done" or "try again"."""
        arrived, service = time.time(), loaded()
        session = open_session(session_id, request)
        flow.admit(session, arrived)
        data = await receive_image(request, SESSION_FRAME_MAX_BYTES, json_allowed=False)
        check_jpeg(data)
        size, faces, checks = await holding_a_slot(service.score_session_frame(data, flow.frame_kind(session,
                                                                                                      arrived)))
        request.scope["state"].update(faces=len(faces))
        progress, result, kept = await asyncio.to_thread(
            flow.take, session_id, session, {"size": size, "faces": faces, "checks": checks}, data, arrived,
            service.threshold)
        if kept and service.publisher is not None:
            view = result_view(session_id, {**session, "status": SUCCEEDED, "result": result,
                                            "frame_count": result["frame_count"]}, [], with_images=True)
            view.update(reference_frame=result["reference_frame"], audit_frames=result["audit_frames"])
            await service.publish_session(session_id, kept, view, session["owner"])
        if result is not None:
            request.scope["state"].update(decision=result["decision"])
        return {"session": progress}

    def open_session(session_id, request):
        """The session a frame is for, its token checked; 404 for an id that is not a session's."""
        session = sessions.get(session_id) if SESSION_ID.match(session_id) else None
        if session is None:
            raise ApiError(404, "no such session (unknown, or expired)")
        sessions.check_token(session, bearer(request.headers))
        return session

    @app.get("/v1/sessions/{session_id}")
    async def session_result(session_id: str, request: Request):
        """The session's status and, once decided, its decision and reason; with an API key also every counted
        frame's score, the reference image and the audit images (frames that carried the decision)."""
        session = sessions.get(session_id) if SESSION_ID.match(session_id) else None
        if session is None or (keys is not None and session["owner"] != request.scope["state"]["key_name"]):
            raise ApiError(404, "no such session (unknown, or expired)")
        with_images = keys is not None  # without keys a session id is all it takes: no face image, no score
        kept = []
        if with_images and session["status"] == SUCCEEDED:
            kept = sessions.kept(session_id, session["result"]["kept"])
        return result_view(session_id, session, kept, with_images)

    @app.get("/capture", include_in_schema=False)
    async def capture_page():
        """The capture page: the camera, an oval for the face, frames sent to a session, progress and hints."""
        return FileResponse(CAPTURE_PAGE, media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                     "Content-Security-Policy":
                                     "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                                     "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
                                     f"frame-ancestors {settings.frame_ancestors}"})

    return app


def app_from_env():
    """App factory for uvicorn's worker processes (--workers N): settings come in an environment variable."""
    values = json.loads(os.environ[SETTINGS_ENV])
    if values.get("band"):
        values["band"] = tuple(values["band"])
    return create_app(Settings(**values))
