"""The Litestar app factory: routes, templates, static files, auth, errors, OpenAPI docs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.file_system import BaseLocalFileSystem
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins import PluginProtocol
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from services.gateway.auth.middleware import AuthMiddleware
from services.gateway.auth.problem import EXCEPTION_HANDLERS
from services.gateway.state import GatewayState

HERE = Path(__file__).parent
SWAGGER = "/static/vendor/swagger-ui"


class StaticFileSystem(BaseLocalFileSystem):
    """Local files where a name the OS cannot take (a NUL byte, too long) is just not there.

    Litestar turns any OSError but "not found" from ``stat`` into a 500.
    """

    async def info(self, path: Any, **kwargs: Any) -> Any:
        try:
            return await super().info(path, **kwargs)
        except PermissionError:
            raise
        except (ValueError, OSError) as exc:
            raise FileNotFoundError(str(path)) from exc


def route_handlers() -> list[Any]:
    """Every area's routes. Add an area with one line here (imports stay local to avoid cycles)."""
    from services.gateway.routes.admin_api import ADMIN_API_ROUTES
    from services.gateway.routes.alerts import ALERTS_ROUTES
    from services.gateway.routes.api import API_ROUTES
    from services.gateway.routes.auth import AUTH_ROUTES
    from services.gateway.routes.backups import BACKUP_ROUTES
    from services.gateway.routes.metrics import METRICS_ROUTES
    from services.gateway.routes.pages import PAGE_ROUTES
    from services.gateway.routes.programs import PROGRAMS_ROUTES
    from services.gateway.routes.settings import SETTINGS_ROUTES
    from services.gateway.routes.targets import TARGETS_ROUTES
    from services.gateway.routes.work import WORK_ROUTES

    handlers: list[Any] = []
    handlers += API_ROUTES
    handlers += PAGE_ROUTES
    handlers += AUTH_ROUTES
    handlers += ADMIN_API_ROUTES
    handlers += SETTINGS_ROUTES
    handlers += BACKUP_ROUTES
    handlers += ALERTS_ROUTES
    handlers += PROGRAMS_ROUTES
    handlers += TARGETS_ROUTES
    handlers += METRICS_ROUTES
    handlers += WORK_ROUTES
    return handlers


class _Litestar(Litestar):
    """Litestar with only its msgspec plugin: no route takes or returns a pydantic or attrs
    model, and the default pydantic plugin alone loads pydantic.v1 and attrs (~4 MB)."""

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        from litestar.plugins.core import MsgspecDIPlugin

        plugins.append(MsgspecDIPlugin())
        return plugins


def create_app(state: GatewayState, lifespan: list[Any] | None = None) -> Litestar:
    """Build the gateway app around ``state`` (settings, bus, SSE hub, auth store)."""
    static = create_static_files_router(
        path="/static",
        directories=[HERE / "static"],
        file_system=StaticFileSystem(),
        opt={"public": True},
        cache_control=None,
        include_in_schema=False,
    )
    swagger = SwaggerRenderPlugin(
        js_url=f"{SWAGGER}-bundle-5.35.0.js",
        css_url=f"{SWAGGER}-5.35.0.css",
        standalone_preset_js_url=f"{SWAGGER}-standalone-preset-5.35.0.js",
        path="/swagger",
        favicon='<link rel="icon" href="data:,">',  # the default points at a CDN
    )
    handlers = route_handlers()
    for handler in handlers:
        # The OpenAPI document describes the REST API; pages and fragments stay out of it.
        paths: set[str] = getattr(handler, "paths", set())
        if paths and not all(p.startswith("/api/") for p in paths):
            handler.include_in_schema = False
    app = _Litestar(
        route_handlers=[*handlers, static],
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(
            title="Vigil",
            version="1",
            path="/api/v1/schema",
            render_plugins=[swagger],
        ),
        compression_config=CompressionConfig(
            backend="brotli",
            brotli_gzip_fallback=True,
            minimum_size=1024,
            # SSE: tiny frames compressed per client cost more CPU than they save.
            exclude_opt_key="skip_compression",
        ),
        middleware=[lambda app: AuthMiddleware(app, state)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan or [],
        debug=False,
    )
    app.state.vigil = state
    return app
