"""/docs and /redoc must work on a closed network: their assets are served locally, not from a CDN,
and the bundled Swagger UI must read the OpenAPI 3.1 document FastAPI emits (Swagger UI 4 could not)."""
from __future__ import annotations

import re

import httpx
import pytest

from conftest import ARTIFACTS, LOCAL_URL

LOCAL = LOCAL_URL


def _local_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(r"url: *'([^']+)'", html)


@pytest.mark.parametrize("page, assets", [
    ("/docs", ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css")),
    ("/redoc", ("/docs-assets/redoc.standalone.js",)),
])
def test_docs_pages_use_only_local_assets(live_server, page, assets):
    r = httpx.get(live_server.url + page, timeout=10)
    assert r.status_code == 200
    urls = _local_urls(r.text)
    assert urls, f"{page} references no assets"
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from outside this server"
    for asset in assets:
        assert asset in r.text
        got = httpx.get(live_server.url + asset, timeout=10)
        assert got.status_code == 200 and len(got.content) > 10_000


def test_openapi_is_31_and_lists_ask(live_server):
    spec = httpx.get(live_server.url + "/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.1")  # what made Swagger UI 4 fail
    assert "/v1/ask" in spec["paths"]



@pytest.mark.timeout(300)
@pytest.mark.parametrize("page, operation, shot", [
    ("/docs", "#operations-assistant-ask_v1_ask_post", "api-docs-swagger.png"),
    ("/redoc", "[data-section-id='tag/assistant/operation/ask_v1_ask_post']", "api-docs-redoc.png"),
])
def test_docs_render_operations_in_a_browser(live_server, browser, page, operation, shot):
    """The page renders the operations (not the "does not specify a valid version field" error),
    and every request it makes stays on this server."""
    from playwright.sync_api import expect

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    blocked: set[str] = set()  # refused by the page's own Content-Security-Policy: never left the browser
    ctx.on("request", lambda req: requests.append(req.url))
    ctx.on("requestfailed", lambda req: blocked.add(req.url) if req.failure == "csp" else None)
    try:
        p = ctx.new_page()
        p.goto(live_server.url + page, timeout=60_000)
        op = p.locator(operation)
        expect(op.first).to_be_visible(timeout=60_000)
        assert "/v1/ask" in op.first.inner_text()
        op.first.scroll_into_view_if_needed()
        assert "valid version field" not in p.content()
        ARTIFACTS.mkdir(exist_ok=True)
        p.screenshot(path=str(ARTIFACTS / shot), full_page=False)
    finally:
        ctx.close()
    outside = [u for u in requests if not LOCAL.match(u) and u not in blocked]
    assert not outside, f"{page} requested {outside}"
