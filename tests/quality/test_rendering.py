"""Each message's HTML in headless Chromium at a phone's 375 px and the 600 px desktop column: no horizontal
overflow, sized images, a hidden preheader, a visible unsubscribe link, text contrast of at least 4.5:1 in light
and dark mode. Screenshots go to test-artifacts/email/ (the README's two digest pictures are written by
tests/e2e, from a digest of the web-app journey)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import ARTIFACTS
from .corpus import NAMES

WIDTHS = (375, 600)
MIN_CONTRAST = 4.5

# Every visible text's colour against the first opaque background behind it, as the browser computed them
# (inline styles, <style>, bgcolor attributes and the dark-mode media query all resolved).
CONTRAST_JS = """() => {
  const rgb = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lin = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = c => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const canvas = rgb(getComputedStyle(document.documentElement).backgroundColor);
  const background = el => {
    for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c && c[3] > 0) return c; }
    return canvas && canvas[3] > 0 ? canvas : (matchMedia('(prefers-color-scheme: dark)').matches ? [18, 18, 18, 1] : [255, 255, 255, 1]);
  };
  const out = [], seen = new Set();
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const node = walk.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || seen.has(el)) continue;
    seen.add(el);
    if (!el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
    const box = el.getBoundingClientRect();
    if (box.width < 2 || box.height < 2) continue;
    const fg = rgb(getComputedStyle(el).color), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    out.push({text: node.textContent.trim().slice(0, 50), color: getComputedStyle(el).color,
              background: `rgb(${bg.slice(0, 3).join(', ')})`, ratio: Math.round((a + 0.05) / (b + 0.05) * 100) / 100});
  }
  return out;
}"""

LAYOUT_JS = """(unsubscribe) => {
  const body = document.body;
  const pre = [...body.querySelectorAll('div')].find(d => (d.getAttribute('style') || '').includes('display:none'));
  const preBox = pre && pre.getBoundingClientRect();
  const link = [...document.querySelectorAll('a')].find(a => a.getAttribute('href') === unsubscribe);
  const linkBox = link && link.getBoundingClientRect();
  return {
    scrollWidth: document.scrollingElement.scrollWidth,
    images: [...document.images].map(i => ({src: i.getAttribute('src'), width: i.getAttribute('width') || i.style.width})),
    preheader: pre ? {text: pre.textContent.trim().slice(0, 80), display: getComputedStyle(pre).display,
                      opacity: getComputedStyle(pre).opacity, area: preBox.width * preBox.height,
                      visible: pre.checkVisibility({opacityProperty: true, visibilityProperty: true}),
                      inText: body.innerText.includes(pre.textContent.trim().slice(0, 30))} : null,
    firstText: body.innerText.trim().slice(0, 80),
    unsubscribe: link ? {text: link.innerText.trim(), area: linkBox.width * linkBox.height,
                         visible: link.checkVisibility({opacityProperty: true, visibilityProperty: true})} : null,
  };
}"""


def measure(browser, html: str, width: int, scheme: str, screenshot: Path | None, unsubscribe: str = "") -> dict:
    """Open html as a mail client would (JavaScript off; Playwright's evaluate still runs) and measure it."""
    context = browser.new_context(viewport={"width": width, "height": 800}, java_script_enabled=False,
                                  color_scheme=scheme)
    try:
        page = context.new_page()
        page.set_content(html, wait_until="load")
        if screenshot:
            page.screenshot(path=str(screenshot), full_page=True)
        return {"layout": page.evaluate(LAYOUT_JS, unsubscribe), "contrast": page.evaluate(CONTRAST_JS)}
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", NAMES)
def test_fits_hides_its_preheader_and_shows_unsubscribe(chromium, samples, name, width):
    s = samples[name]
    layout = chromium.call(measure, s.html, width, "light", ARTIFACTS / f"{name}-{width}.png", s.unsubscribe)["layout"]
    assert layout["scrollWidth"] <= width, f"{name} is {layout['scrollWidth']} px wide in a {width} px viewport"
    assert all(img["width"] for img in layout["images"]), f"images without a width: {layout['images']}"
    pre = layout["preheader"]
    assert pre and pre["text"], "no preheader"
    assert not pre["visible"] and (pre["display"] == "none" or pre["area"] == 0 or pre["opacity"] == "0"), pre
    assert not pre["inText"] and not layout["firstText"].startswith(pre["text"][:30]), "the preheader shows"
    link = layout["unsubscribe"]
    assert link and link["visible"] and link["area"] > 0 and link["text"], f"no visible unsubscribe link: {link}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("name", NAMES)
def test_text_contrast_at_least_4_5(chromium, samples, name, scheme):
    shot = ARTIFACTS / f"{name}-600-dark.png" if scheme == "dark" else None
    texts = chromium.call(measure, samples[name].html, 600, scheme, shot)["contrast"]
    (ARTIFACTS / f"{name}-contrast-{scheme}.json").write_text(json.dumps(texts, indent=1, ensure_ascii=False) + "\n")
    assert len(texts) >= 5, texts
    low = [t for t in texts if t["ratio"] < MIN_CONTRAST]
    assert not low, f"{name} ({scheme}): text below {MIN_CONTRAST}:1: {low}"
    print(f"\ncontrast {name} ({scheme}): lowest {min(t['ratio'] for t in texts)}:1 over {len(texts)} texts")


def test_the_layout_checks_are_not_vacuous(chromium):
    """A 700 px table overflows the phone, and white-on-grey text fails the contrast bar."""
    bad = ('<!doctype html><html lang="en"><body style="background:#f3f4f6"><table width="700">'
           '<tr><td style="color:#ffffff">faint</td></tr></table></body></html>')
    found = chromium.call(measure, bad, 375, "light", None)
    assert found["layout"]["scrollWidth"] > 375
    (text,) = found["contrast"]
    assert text["ratio"] < MIN_CONTRAST
