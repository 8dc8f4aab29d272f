"""The API's documentation page (/api/v1/docs, issue 18 item 12): Swagger UI served from the
dashboard's own static files (drf-spectacular-sidecar), next to the schema, under the strict CSP.
In Chromium: every operation is listed, "Try it out" answers with the signed-in session, nothing
is loaded from another origin and the browser reports no CSP violation. Screenshots at 1366 px
and 390 px."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.accounts_support import PASSWORD, make_user
from tests.api_support import make_world
from tests.browser import chromium, screenshot_path

OPERATIONS = 13  # the paths of /api/v1/schema (test_api_schema.py lists them)


@pytest.mark.django_db
def test_the_docs_page_needs_a_dashboard_role_and_links_the_schema(client):
    docs = reverse("api:docs")
    assert docs == "/api/v1/docs"
    anonymous = client.get(docs)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    client.force_login(make_user("stranger"), backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(docs).status_code == 403
    client.force_login(make_user("viewer"), backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(docs)
    html = page.content.decode()
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    assert 'href="/api/v1/schema"' in html and 'href="/api/v1/schema?format=json"' in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "<style" not in html and "<script>" not in html  # the CSP allows neither inline
    script = client.get(docs, {"script": ""})
    assert script["Content-Type"].startswith("application/javascript") and "SwaggerUIBundle" in script.text


@pytest.fixture
def site(live_server) -> dict:
    make_world()
    return {"url": live_server.url, "user": make_user("viewer").username}


@pytest.mark.django_db(transaction=True)
def test_the_docs_page_renders_every_operation_and_tries_one_in_chromium(site):
    base = site["url"]
    console: list[str] = []
    requested: list[str] = []
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1366, "height": 900})
        tab.on("console", lambda message: console.append(message.text))
        tab.on("pageerror", lambda error: console.append(f"page error: {error}"))
        tab.on("request", lambda request: requested.append(request.url))
        tab.goto(f"{base}/login/?next=/api/v1/docs")
        tab.fill("#id_username", site["user"])
        tab.fill("#id_password", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url(f"{base}/api/v1/docs")
        tab.wait_for_selector(".swagger-ui .opblock-summary")
        assert tab.locator(".swagger-ui .opblock").count() == OPERATIONS
        assert "OKX team dashboard API" in tab.locator(".swagger-ui .info .title").inner_text()

        accounts = tab.locator(".opblock[id$='-list_accounts']")  # id: operations-<tag>-<operationId>
        accounts.locator(".opblock-summary").click()
        accounts.locator("button.try-out__btn").click()
        accounts.locator("button.execute").click()
        status = accounts.locator(".live-responses-table tr.response .response-col_status").first
        status.wait_for()
        assert status.inner_text().strip() == "200"
        tab.screenshot(path=str(screenshot_path("api-docs-1366")), full_page=True)
        tab.evaluate("window.scrollTo(0, 0)")
        tab.screenshot(path=str(screenshot_path("api-docs-1366-top")))

        tab.set_viewport_size({"width": 390, "height": 844})
        tab.reload()
        tab.wait_for_selector(".swagger-ui .opblock-summary")
        tab.screenshot(path=str(screenshot_path("api-docs-390")), full_page=True)
        tab.evaluate("window.scrollTo(0, 0)")
        tab.screenshot(path=str(screenshot_path("api-docs-390-top")))
        overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert [text for text in console if "Content Security Policy" in text or "page error" in text] == []
    assert [url for url in requested if not url.startswith(base)] == []  # no CDN, nothing outside
    assert overflow <= 0
