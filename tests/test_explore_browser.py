"""The explorer in a real browser: Debian's Chromium driven by Playwright, site served on 127.0.0.1.

The demo site comes from one shared `demo --quick` run; the hostile-label check uses the
crafted run, whose label `<script>...` must show up as text.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.runs import SCRIPT_LABEL

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_site(demo_run) -> Path:
    return demo_run[0].site.parent


@pytest.fixture(scope="module")
def base(serve, demo_site) -> str:
    return serve(demo_site)


@pytest.fixture
def page(browser):
    """A fresh page that records console errors, page errors and dialogs."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    tab.problems = []
    tab.on("console", lambda m: tab.problems.append(f"console {m.type}: {m.text} on {tab.url}")
           if m.type == "error" else None)
    tab.on("pageerror", lambda e: tab.problems.append(f"page error: {e}"))
    tab.on("dialog", lambda d: (tab.problems.append(f"dialog: {d.message}"), d.dismiss()))
    # A click that navigates away aborts the old page's pending image loads (net::ERR_ABORTED):
    # not a fault of the site; a missing file still shows up as an HTTP 404 below.
    tab.on("requestfailed", lambda r: tab.problems.append(f"request failed: {r.url} ({r.failure})")
           if "ERR_ABORTED" not in (r.failure or "") else None)
    tab.on("response", lambda r: tab.problems.append(f"HTTP {r.status}: {r.url} from {tab.url}")
           if r.status >= 400 else None)
    yield tab
    context.close()


def _index(site: Path) -> list[dict]:
    text = (site / "static/search-index.js").read_text()
    return json.loads(text.split("=", 1)[1].strip().rstrip(";"))


def _broken_images(page) -> list[str]:
    return page.eval_on_selector_all(
        "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0))"
               ".map(i => i.getAttribute('src'))")


def test_pages_have_no_broken_image_and_no_console_error(page, base, demo_site):
    entries = _index(demo_site)
    urls = ["index.html"] + [e["url"] for e in entries if e["kind"] in ("layer", "tree")]
    first_units = {}
    for e in entries:
        if e["kind"] == "unit":
            first_units.setdefault(e["name"].split(":")[0], e["url"])
    urls += sorted(first_units.values())
    urls += [next(e["url"] for e in entries if e["kind"] == "concept")]
    images = 0
    for url in urls:
        page.goto(base + url)
        assert _broken_images(page) == [], url
        images += page.locator("img").count()
    assert images > 50
    assert page.problems == []


def test_click_model_layer_unit_child(page, base):
    page.goto(base + "index.html")
    page.locator("a.layer-link", has_text="conv5").first.click()
    assert page.url.endswith("/layers/conv5.html")
    page.locator(".grid .card").first.click()
    assert page.url.endswith("/units/conv5/0.html")
    assert page.locator("h1").inner_text().startswith("conv5:0")
    child = page.locator("section.children a.unit-link").first
    name = child.inner_text()
    assert name.startswith("conv4:")
    child.click()
    assert page.url.endswith(f"/units/conv4/{name.split(':')[1]}.html")
    assert page.locator("h1").inner_text().startswith(name)
    parents = page.locator("section.parents a.unit-link").all_inner_texts()
    assert any(p.startswith("conv5:") for p in parents)
    assert page.problems == []


def test_search_reaches_unit_and_concept(page, base, demo_site):
    concepts = [e for e in _index(demo_site) if e["kind"] == "concept"]
    assert concepts, "the quick demo's dissection should name concepts"
    concept = max(concepts, key=lambda e: int(e["detail"].split()[0]))["name"]
    page.goto(base + "layers/conv5.html")
    box = page.locator("input.search-input")
    box.fill("conv5:0")
    box.press("Enter")
    page.wait_for_url("**/units/conv5/0.html")
    box = page.locator("input.search-input")
    box.fill(concept[:-1] if len(concept) > 2 else concept)
    suggestions = page.locator(".search-results .result-name").all_inner_texts()
    assert concept in suggestions
    box.fill(concept)
    box.press("Enter")
    page.wait_for_url("**/concepts/*.html")
    assert concept in page.locator("h1").inner_text()
    assert page.locator(".grid .card").count() >= 1
    assert page.problems == []


def test_layer_grid_sorts_and_filters(page, base):
    page.goto(base + "layers/conv5.html")
    channels = page.eval_on_selector_all(".grid .card", "cs => cs.map(c => Number(c.dataset.unit))")
    assert channels == list(range(len(channels))) and len(channels) >= 64
    page.select_option("select.grid-sort", "iou")
    ious = [float(v) for v in page.eval_on_selector_all(".grid .card", "cs => cs.map(c => c.dataset.iou)")]
    assert ious == sorted(ious, reverse=True) and len(ious) == len(channels)
    label = page.locator(".grid .card").first.get_attribute("data-label")
    page.fill("input.grid-filter", label)
    shown = page.eval_on_selector_all(".grid .card:not([hidden])", "cs => cs.map(c => c.dataset.label)")
    assert shown and all(label.lower() in s.lower() for s in shown)
    assert page.locator(".grid-count").inner_text() == f"{len(shown)} of {len(channels)} units"
    assert page.problems == []


def test_search_works_from_file_url(page, demo_site):
    page.goto((demo_site / "index.html").resolve().as_uri())
    page.locator("input.search-input").fill("conv5 0")
    page.locator("input.search-input").press("Enter")
    page.wait_for_url("**/units/conv5/0.html")


def test_unit_page_screenshot_is_not_blank(page, base):
    page.goto(base + "units/conv5/0.html")
    png = page.screenshot(full_page=True)
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
    assert shot.std() > 20
    viz = page.locator("section.visuals img").first
    pixels = np.asarray(Image.open(io.BytesIO(viz.screenshot())).convert("RGB"), dtype=np.float64)
    assert pixels.std() > 5, "the feature visualization itself should not be flat"


def test_script_label_renders_as_text(page, serve, fake_site):
    base = serve(fake_site)
    page.goto(base + "units/conv5/1.html")
    assert page.locator("h1 .label").inner_text() == SCRIPT_LABEL
    assert page.locator("script").count() == 2
    page.goto(base + "index.html")
    page.locator("input.search-input").fill("<scr")
    assert SCRIPT_LABEL in page.locator(".search-results .result-name").all_inner_texts()
    page.locator("input.search-input").press("Enter")
    page.wait_for_url("**/concepts/*.html")
    assert page.locator("h1 q.concept").inner_text() == SCRIPT_LABEL
    assert _broken_images(page) == []
    assert page.problems == []
