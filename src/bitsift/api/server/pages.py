"""The server's pages beside the API: the web playground at /, /docs and /redoc from packaged
assets, and /metrics. Every page loads nothing from another origin: a Content-Security-Policy
makes the browser enforce it, whatever a script asks for (ReDoc's footer logo would come from
its CDN)."""

from __future__ import annotations

import hmac
import os
import pathlib

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from bitsift.api.server import telemetry
from bitsift.api.server.errors import error_response

PLAYGROUND = pathlib.Path(__file__).parent / "playground"  # the web playground at /: plain files, shipped here
DOCS_ASSETS = "/docs-assets"  # Swagger UI and ReDoc files, shipped in a package: /docs works offline
PAGE_POLICY = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'")


def add_pages(app: FastAPI, metrics_key: str | None) -> None:
    """The pages on ``app``; /metrics asks for ``metrics_key`` (else BITSIFT_METRICS_KEY) if set."""
    scrape_key = metrics_key if metrics_key is not None else os.environ.get(telemetry.METRICS_KEY_ENV)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics (open like /health unless --metrics-key)",
             response_class=Response, responses={200: {"description": "the Prometheus text exposition format",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def metrics_route(request: Request) -> Response:
        if scrape_key and not hmac.compare_digest(request.headers.get("x-api-key", ""), scrape_key):
            return error_response("unauthorized", "/metrics needs the x-api-key given by --metrics-key", 401)
        body, content_type = await run_in_threadpool(telemetry.render, request.app.state.engine)
        return Response(body, media_type=content_type)

    app.mount(DOCS_ASSETS, StaticFiles(directory=telemetry.docs_assets()), name="docs-assets")
    app.mount("/playground", StaticFiles(directory=PLAYGROUND), name="playground")

    @app.get("/", include_in_schema=False)
    async def playground() -> Response:
        return FileResponse(PLAYGROUND / "index.html", headers={"content-security-policy": PAGE_POLICY})

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        page = get_swagger_ui_html(openapi_url="/openapi.json", title="bitsift API",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png")
        page.headers["content-security-policy"] = DOCS_POLICY
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> Response:
        page = get_redoc_html(openapi_url="/openapi.json", title="bitsift API", with_google_fonts=False,
                              redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png")
        page.headers["content-security-policy"] = DOCS_POLICY
        return page
