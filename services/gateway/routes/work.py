"""Work analytics over REST (/api/v1/work/...), exports (CSV, xlsx) and the Work analytics page.

Every query is answered by the analyzer over NATS (``vigil.api.analyzer.work_*``); the
filters are validated here first so a bad one is a 400 problem+json naming the parameter.
"""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Stream, Template

from services.analyzer.work.filters import FilterError, parse_filter
from services.gateway.routes.metrics_common import ask_analyzer
from services.gateway.routes.pages import page_context
from services.gateway.security import requires_role
from services.gateway.spreadsheet import safe_row

VIEWER = [requires_role("viewer")]
PAGE_ROWS = 5000
XLSX_MAX_ROWS = 1_048_575  # the sheet's limit, less the header
FILTER_KEYS = ("process", "date_from", "date_to", "workers", "ship_from", "ship_to", "as_of")


def _params(request: Request[Any, Any, Any], *extra: str) -> dict[str, Any]:
    """The validated filter (and ``extra`` keys as given) from the query string."""
    query = request.query_params
    raw = {k: query.get(k) for k in FILTER_KEYS if query.get(k) not in (None, "")}
    try:
        params = parse_filter(raw).to_params()
    except FilterError as exc:
        raise ValidationException(
            detail=str(exc), extra=[{"key": exc.param, "message": exc.detail}]
        ) from None
    for key in extra:
        if query.get(key) not in (None, ""):
            params[key] = query.get(key)
    return params


async def _ask(request: Request[Any, Any, Any], method: str, payload: dict[str, Any]) -> Any:
    try:
        return await ask_analyzer(request, method, payload)
    except HTTPException as exc:
        if exc.status_code == 400:
            # The analyzer's message names the parameter: "parameter 'limit': …"
            param = str(exc.detail).split("'")[1] if "'" in str(exc.detail) else ""
            raise ValidationException(
                detail=exc.detail, extra=[{"key": param, "message": exc.detail}]
            ) from None
        raise


# ---------------------------------------------------------------- REST


@get("/api/v1/work/kpis", guards=VIEWER, tags=["work"])
async def work_kpis(request: Request[Any, Any, Any]) -> Any:
    """KPIs over process (or all), date range, workers, shipping-date range; data problems."""
    return await _ask(request, "work_kpis", _params(request))


@get("/api/v1/work/workers", guards=VIEWER, tags=["work"])
async def work_workers(request: Request[Any, Any, Any]) -> Any:
    """The worker table: metrics, best work time this week (as_of), overall score."""
    return await _ask(request, "work_workers", _params(request))


@get("/api/v1/work/today", guards=VIEWER, tags=["work"])
async def work_today_view(request: Request[Any, Any, Any]) -> Any:
    """Today (or the last working day): per worker, per item, pcs per hour vs 30-day average."""
    return await _ask(request, "work_view_today", _params(request))


@get("/api/v1/work/daily", guards=VIEWER, tags=["work"])
async def work_daily(request: Request[Any, Any, Any]) -> Any:
    """Trays and pcs per day and their daily averages."""
    return await _ask(request, "work_daily", _params(request))


@get("/api/v1/work/items", guards=VIEWER, tags=["work"])
async def work_items(request: Request[Any, Any, Any]) -> Any:
    """Production by item and day."""
    return await _ask(request, "work_items", _params(request))


@get("/api/v1/work/errors", guards=VIEWER, tags=["work"])
async def work_errors(request: Request[Any, Any, Any]) -> Any:
    """The error log (events with ERROR, FAIL or CANCEL), newest first; limit and offset."""
    return await _ask(request, "work_errors", _params(request, "limit", "offset"))


@get("/api/v1/work/problems", guards=VIEWER, tags=["work"])
async def work_problems(request: Request[Any, Any, Any]) -> Any:
    """Data problems: rows and sessions the spec cannot use, counted by kind, latest first."""
    return await _ask(request, "work_problems", _params(request))


@get("/api/v1/work/status", guards=VIEWER, tags=["work"])
async def work_status(request: Request[Any, Any, Any]) -> Any:
    """Catching up: WorkBatches not yet stored (backlog), totals stored, rate, time left."""
    return await _ask(request, "work_status", {})


@get("/api/v1/work/trace", guards=VIEWER, tags=["work"])
async def work_trace(request: Request[Any, Any, Any], kind: str, value: str) -> Any:
    """Trace by work order, item or barcode (kind = work_order | item | barcode)."""
    if kind not in ("work_order", "item", "barcode"):
        raise ValidationException(
            detail="parameter 'kind': expected work_order, item or barcode",
            extra=[{"key": "kind", "message": "expected work_order, item or barcode"}],
        )
    return await _ask(request, "work_trace", {"kind": kind, "value": value})


@get("/api/v1/work/export/{what:str}", guards=VIEWER, tags=["work"])
async def work_export(request: Request[Any, Any, Any], what: str, format: str = "csv") -> Stream:
    """Sessions or the error log as CSV (streamed page by page) or xlsx."""
    if what not in ("sessions", "errors"):
        raise HTTPException(status_code=404, detail="export: sessions or errors")
    if format not in ("csv", "xlsx"):
        raise ValidationException(
            detail="parameter 'format': expected csv or xlsx",
            extra=[{"key": "format", "message": "expected csv or xlsx"}],
        )
    params = _params(request)
    first = await _ask(request, "work_export_page", {**params, "what": what, "limit": PAGE_ROWS})
    name = f"vigil-{what}-{date.today():%Y%m%d}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}

    async def pages() -> AsyncIterator[dict[str, Any]]:
        page = first
        while True:
            yield page
            if page.get("next") is None:
                return
            page = await _ask(
                request,
                "work_export_page",
                {**params, "what": what, "after": page["next"], "limit": PAGE_ROWS},
            )

    if format == "csv":
        return Stream(_csv(pages()), media_type="text/csv; charset=utf-8", headers=headers)
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Stream(_xlsx(pages(), what), media_type=media, headers=headers)


async def _csv(pages: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    header_done = False
    async for page in pages:
        buf = io.StringIO()
        writer = csv.writer(buf)
        if not header_done:
            buf.write("\ufeff")  # Excel reads Korean text right with a BOM
            writer.writerow(page["columns"])
            header_done = True
        # Worker names, items and barcodes come from device-written logs: never formulas.
        writer.writerows(safe_row(row) for row in page["rows"])
        yield buf.getvalue().encode("utf-8")


async def _xlsx(pages: AsyncIterator[dict[str, Any]], sheet: str) -> AsyncIterator[bytes]:
    import xlsxwriter

    with tempfile.TemporaryFile() as tmp:
        # constant_memory: rows are flushed as written, so a large export stays small in RAM
        # strings_to_formulas off: a text cell such as "=HYPERLINK(...)" stays text.
        options = {"constant_memory": True, "in_memory": False, "strings_to_formulas": False}
        book = xlsxwriter.Workbook(tmp, options)
        ws = book.add_worksheet(sheet)
        row_no = 0
        async for page in pages:
            if row_no == 0:
                ws.write_row(0, 0, page["columns"])
                row_no = 1
            for row in page["rows"]:
                if row_no > XLSX_MAX_ROWS:
                    break
                ws.write_row(row_no, 0, row)
                row_no += 1
        await asyncio.to_thread(book.close)
        tmp.seek(0)
        while chunk := tmp.read(256 * 1024):
            yield chunk


# ---------------------------------------------------------------- page and fragments


def _query(request: Request[Any, Any, Any]) -> str:
    """The page's filter as a query string for its fragments and export links."""
    return urlencode({k: v for k, v in request.query_params.items() if k in FILTER_KEYS and v})


@get("/work", guards=VIEWER, include_in_schema=False)
async def work_page(request: Request[Any, Any, Any]) -> Template:
    """The Work analytics page: filter bar, KPIs, workers, items, hourly, errors, trace."""
    error = ""
    try:
        filters = _params(request)
    except ValidationException as exc:
        error, filters = str(exc.detail), {"process": "all"}
    ctx = page_context(request, "work", f=filters, query=_query(request) if not error else "",
                       error=error)  # fmt: skip
    return Template(template_name="pages/work.html", context=ctx)


async def _fragment(
    request: Request[Any, Any, Any], template: str, calls: dict[str, tuple[str, dict[str, Any]]]
) -> Template:
    data: dict[str, Any] = {}
    error = ""
    try:
        for key, (method, payload) in calls.items():
            data[key] = await _ask(request, method, payload)
    except HTTPException as exc:
        error = str(exc.detail)
    ctx = page_context(request, "work", error=error, **data)
    return Template(template_name=f"fragments/{template}", context=ctx)


@get("/ui/fragments/work/summary", guards=VIEWER, include_in_schema=False)
async def work_summary_fragment(request: Request[Any, Any, Any]) -> Template:
    """KPI cards, data problems, today's workers and items and the hourly chart."""
    p = _params(request)
    return await _fragment(request, "work_summary.html",
                           {"kpis": ("work_kpis", p), "today": ("work_view_today", p),
                            "daily": ("work_daily", p)})  # fmt: skip


@get("/ui/fragments/work/workers", guards=VIEWER, include_in_schema=False)
async def work_workers_fragment(request: Request[Any, Any, Any]) -> Template:
    """The sortable worker table with its radar comparison."""
    return await _fragment(
        request, "work_workers.html", {"table": ("work_workers", _params(request))}
    )


@get("/ui/fragments/work/details", guards=VIEWER, include_in_schema=False)
async def work_details_fragment(request: Request[Any, Any, Any]) -> Template:
    """Production by item and day, and the error log."""
    p = _params(request)
    return await _fragment(request, "work_details.html",
                           {"items": ("work_items", p),
                            "errors": ("work_errors", {**p, "limit": 100})})  # fmt: skip


@get("/ui/fragments/work/trace", guards=VIEWER, include_in_schema=False)
async def work_trace_fragment(
    request: Request[Any, Any, Any], kind: str = "barcode", value: str = ""
) -> Template:
    """Trace results for the search box."""
    if not value.strip():
        return await _fragment(request, "work_trace.html", {})
    return await _fragment(request, "work_trace.html",
                           {"trace": ("work_trace", {"kind": kind, "value": value})})  # fmt: skip


@get("/ui/fragments/work/backlog", guards=VIEWER, include_in_schema=False)
async def work_backlog_fragment(request: Request[Any, Any, Any]) -> Template:
    """A "catching up" banner while the analyzer has a backlog; nothing once it has none."""
    return await _fragment(request, "work_backlog.html", {"status": ("work_status", {})})


WORK_ROUTES = [
    work_kpis, work_workers, work_today_view, work_daily, work_items, work_errors, work_problems,
    work_status, work_trace, work_export, work_page, work_summary_fragment, work_workers_fragment,
    work_details_fragment, work_trace_fragment, work_backlog_fragment,
]  # fmt: skip
