"""The product's own 404 and 500 pages (DEBUG off, its default): no URL map, no settings, nothing
echoed from the request; the 500 page needs no database."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import include, path

from dashboard.urls import urlpatterns as product_urls
from tests.accounts_support import make_user
from tests.browser import chromium, screenshot_path

pytestmark = pytest.mark.django_db

PASTED_SECRET = "FAKE-SECRET-KEY-SENTINEL-5e7a9c"
PASTED_PASSPHRASE = "FAKE-PASSPHRASE-SENTINEL-0b3d"


def broken_view(request):
    raise RuntimeError(f"a bug while handling {request.POST.get('secret_key', '')}")


# This module is also the URLconf of the 500 tests: the product's URLs plus one view that fails.
urlpatterns = [path("broken/", broken_view), path("", include(product_urls))]


def test_an_anonymous_visitor_gets_the_products_404_page_without_the_url_map(client):
    response = client.get("/no-such-page/?token=abc")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page and "OKX team dashboard" in page
    assert 'href="/login/"' in page
    for leak in ("URLconf", "urlpatterns", "admin/", "api/v1", "no-such-page", "token=abc"):
        assert leak not in page


def test_a_signed_in_user_gets_the_404_page_with_the_menu(client):
    client.force_login(make_user("viewer"))
    response = client.get("/accounts/999999/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page and 'aria-label="Sections"' in page


@pytest.mark.urls(__name__)
def test_a_failing_view_shows_the_500_page_without_the_posted_secrets_or_the_database(
    django_assert_max_num_queries,
):
    client = Client(raise_request_exception=False)
    with django_assert_max_num_queries(0):  # the failure may be the database itself
        response = client.post(
            "/broken/", {"api_key": "k", "secret_key": PASTED_SECRET, "passphrase": PASTED_PASSPHRASE}
        )
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page
    for leak in (PASTED_SECRET, PASTED_PASSPHRASE, "RuntimeError", "Traceback", "broken_view", "SECRET_KEY"):
        assert leak not in page


@pytest.mark.urls(__name__)
@pytest.mark.browser
def test_the_404_and_500_pages_fit_a_phone_and_a_laptop(live_server):
    with chromium() as browser:
        for width in (1366, 390):
            page = browser.new_page(viewport={"width": width, "height": 700})
            for name, url, status in (("404", "/no-such-page/", 404), ("500", "/broken/", 500)):
                answer = page.goto(live_server.url + url)
                assert answer is not None and answer.status == status
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.screenshot(path=str(screenshot_path(f"error-page-{name}-{width}")), full_page=True)
            page.close()
