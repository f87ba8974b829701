"""The Litestar app factory: routes, templates, static files, error handling."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.openapi import OpenAPIConfig
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from services.gateway.routes.api import API_ROUTES
from services.gateway.routes.pages import PAGE_ROUTES
from services.gateway.state import GatewayState

HERE = Path(__file__).parent


def create_app(state: GatewayState) -> Litestar:
    """Build the gateway app around ``state`` (settings, bus, SSE hub)."""
    app = Litestar(
        route_handlers=[
            *API_ROUTES,
            *PAGE_ROUTES,
            create_static_files_router(path="/static", directories=[HERE / "static"]),
        ],
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(title="Vigil", version="1", path="/api/v1/schema"),
        compression_config=CompressionConfig(backend="gzip", minimum_size=1024),
        debug=False,
    )
    app.state.vigil = state
    return app
