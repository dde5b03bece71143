"""/docs must work on a closed network: its Swagger UI assets are served locally, not from a CDN."""
import re

import httpx


def test_docs_page_uses_only_local_assets(live_server):
    r = httpx.get(live_server.url + "/docs", timeout=10)
    assert r.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", r.text) + re.findall(r"url: *'([^']+)'", r.text)
    assert urls, "the docs page references no assets"
    for url in urls:
        assert url.startswith("/"), f"/docs loads {url} from outside this server"
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
        assert asset in r.text
        got = httpx.get(live_server.url + asset, timeout=10)
        assert got.status_code == 200 and len(got.content) > 10_000
    spec = httpx.get(live_server.url + "/openapi.json", timeout=10).json()
    assert "/v1/ask" in spec["paths"]
