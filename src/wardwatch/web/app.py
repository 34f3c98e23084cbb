"""The application factory: :func:`create_app` wires the store, the auth service, the API routers,
the pages, static files and the security headers into one FastAPI app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from wardwatch.auth.service import AuthService
from wardwatch.store.sql import SqlStore, StoreError, open_store
from wardwatch.web.api import routers
from wardwatch.web.api.common import API_PREFIX
from wardwatch.web.security import Forbidden, NotAuthenticated, principal

HERE = Path(__file__).parent
STATIC = HERE / "static"

#: Scripts, styles and images only from this server; no framing; no inline script. (HTMX is told
#: not to inject its indicator style, see templates/base.html.)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
#: Reachable without authentication (everything else is refused; a test enumerates the routes).
PUBLIC_PATHS = frozenset({"/login", f"{API_PREFIX}/health"})


def create_app(
    store_url: str | None = None,
    *,
    store: SqlStore | None = None,
    hasher: PasswordHasher | None = None,
    secure_cookies: bool | None = None,
) -> FastAPI:
    """Build the app on the database at ``store_url`` (migrated to the latest schema) or on an
    open ``store``. ``secure_cookies`` None marks cookies Secure exactly when the request came
    over TLS; ``hasher`` lets tests use a cheaper argon2 cost."""
    if store is None:
        store = open_store(store_url)
    app = FastAPI(
        title="wardwatch",
        version="1",
        summary="Passive discovery and security of connected medical devices",
        # The interactive docs pages load their scripts from a CDN: not offered (nothing may come
        # from the internet). The OpenAPI document is served behind authentication below.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.store = store
    app.state.auth = AuthService(store, hasher=hasher)
    app.state.secure_cookies = secure_cookies

    from wardwatch.web.api import health

    app.include_router(health.router, prefix=API_PREFIX)
    for router in routers():
        app.include_router(router, prefix=API_PREFIX, dependencies=[Depends(principal)])

    @app.get(f"{API_PREFIX}/openapi.json", include_in_schema=False, dependencies=[Depends(principal)])
    def openapi() -> dict[str, Any]:
        """The OpenAPI 3 description of this API."""
        return app.openapi()

    from wardwatch.web.pages import pages_routers, public_router

    app.include_router(public_router())
    for router in pages_routers():
        app.include_router(router, dependencies=[Depends(principal)])
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    _install_handlers(app)
    return app


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(API_PREFIX) and request.url.path != "/static"


def _install_handlers(app: FastAPI) -> None:
    from wardwatch.web.pages.render import render

    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, _exc: NotAuthenticated) -> Response:
        if _wants_html(request):
            if request.headers.get("hx-request"):
                # HTMX follows redirects in place; ask it to load the login page instead.
                return Response(status_code=401, headers={"HX-Redirect": "/login"})
            return RedirectResponse("/login?next=" + request.url.path, status_code=303)
        return JSONResponse(
            {"detail": "authentication required"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if _wants_html(request):
            return render(request, "error.html", {"status": 403, "message": exc.message}, status_code=403)
        return JSONResponse({"detail": exc.message}, status_code=403)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_html(request) and exc.status_code in (400, 404, 405):
            who = getattr(request.state, "principal", None)
            if who is not None:
                return render(
                    request,
                    "error.html",
                    {"status": exc.status_code, "message": str(exc.detail)},
                    exc.status_code,
                )
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith("/static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response
