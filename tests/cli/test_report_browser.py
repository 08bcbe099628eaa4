#!/usr/bin/env python3
"""The report's page and the history page in a real browser (Debian's chromium and
chromium-driver, driven by selenium):

    python test_report_browser.py PATH/TO/lsc

At 1280 and 400 pixels wide (one browser launch per width, both pages in it):
  - every section is shown (displayed, with a size) and nothing overflows the width;
  - no console message of level SEVERE (a CSP violation is one), and no request but the page's
    own document (the performance log's Network.requestWillBeSent events);
  - the full-page screenshot is not blank (many colours, a good share of non-background pixels);
  - every plotted data-value read back from the rendered page equals the JSON of the same run.
Without selenium, chromium or chromedriver it prints "SKIPPED: <reason>" and exits 0, unless
LSC_REQUIRE_BROWSER=1 (CI), which makes that a failure. LSC_BROWSER_SHOTS=DIR keeps the
screenshots there (for looking at them). Exit 0 when every check passes, 1 otherwise, 2 on a
usage error.
"""
import io
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_report_html as pages  # noqa: E402  (the pages' makers and the JSON comparison)

WIDTHS = (1280, 400)


def skip(reason):
    if os.environ.get("LSC_REQUIRE_BROWSER") == "1":
        print(f"FAIL  the browser test cannot run: {reason} (LSC_REQUIRE_BROWSER=1)")
        sys.exit(1)
    print(f"SKIPPED: {reason}")
    sys.exit(0)


def find(names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


def browser(width, chromium, driver_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--hide-scrollbars", f"--window-size={width},900", "--force-device-scale-factor=1",
              # nothing of the browser's own reaches out either: the requests seen are the page's
              "--no-first-run", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-default-apps"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=o)


def not_blank(png, what, width):
    import numpy as np
    from PIL import Image
    im = Image.open(io.BytesIO(png)).convert("RGB")
    px = np.asarray(im, dtype=np.int32).reshape(-1, 3)
    packed = (px[:, 0] << 16) | (px[:, 1] << 8) | px[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    bg = px[packed == values[np.argmax(counts)]][0]
    share = float((np.abs(px - bg).sum(axis=1) > 30).mean())
    colours = len(values)
    pages.check(im.width == width and colours > 50 and share > 0.02,
                f"{what} at {width}px: the screenshot is drawn ({im.width}x{im.height}, {colours} "
                f"colours, {share:.0%} away from the background)")


def visit(d, url, sections, expected, what, width, shots):
    d.get_log("browser")
    d.get_log("performance")              # drop what came before this page
    d.get(url)
    for s in sections:
        ok = d.execute_script(
            "const e = document.getElementById(arguments[0]);"
            "if (!e) return false; const r = e.getBoundingClientRect();"
            "return r.width > 0 && r.height > 0 && getComputedStyle(e).display !== 'none';", s)
        pages.check(ok, f"{what} at {width}px: section #{s} shown")
    sw, cw = d.execute_script("return [document.documentElement.scrollWidth, "
                              "document.documentElement.clientWidth]")
    pages.check(sw <= cw + 1, f"{what} at {width}px: nothing wider than the window ({sw} > {cw})")
    drawn = d.execute_script(
        "const out = {};"
        "for (const e of document.querySelectorAll('[data-key][data-value]')) {"
        "  const v = e.getAttribute('data-value');"
        "  out[e.getAttribute('data-key')] = v === 'null' ? null : parseFloat(v); }"
        "return out;")
    shown = d.execute_script(
        "let n = 0; for (const e of document.querySelectorAll('svg [data-key]')) {"
        "  const r = e.getBoundingClientRect(); if (r.width > 0 || r.height > 0) n++; } return n;")
    pages.check(shown > 0.5 * len(drawn), f"{what} at {width}px: the marks are laid out ({shown} of "
                f"{len(drawn)} with a size; empty bins have none)")
    pages.compare_marks(drawn, expected, f"{what} at {width}px, read back from the browser")
    severe = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
    pages.check(not severe, f"{what} at {width}px: no console error ({severe[:2]})")
    requests, own = [], 0
    for e in d.get_log("performance"):
        m = json.loads(e["message"])["message"]
        if m.get("method") == "Network.requestWillBeSent":
            u = m["params"]["request"]["url"]
            if u != url:
                requests.append(u)
            else:
                own += 1
    # the document's own request shows that the log records requests at all
    pages.check(own >= 1 and not requests,
                f"{what} at {width}px: no request but the page itself (own {own}; others {requests[:3]})")
    h = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(width, min(int(h) + 20, 12000))
    png = d.get_screenshot_as_png()
    d.set_window_size(width, 900)
    not_blank(png, what, width)
    if shots:
        os.makedirs(shots, exist_ok=True)
        with open(os.path.join(shots, f"{what.split()[0]}-{width}.png"), "wb") as f:
            f.write(png)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    lsc = sys.argv[1]
    try:
        import selenium  # noqa: F401
        import PIL  # noqa: F401
    except ImportError as e:
        skip(f"no selenium or Pillow in this Python ({e}); pip install selenium pillow")
    chromium = find(["chromium", "chromium-browser", "google-chrome"])
    driver_path = find(["chromedriver"])
    if not chromium or not driver_path:
        skip("no chromium or chromedriver on PATH (Debian: apt-get install chromium chromium-driver)")
    import numpy as np
    shots = os.environ.get("LSC_BROWSER_SHOTS")
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(22)
        real, fake, lab = pages.make_sets(rng, 800)
        j, report_html, _ = pages.report(lsc, tmp, real, fake, lab, "b")
        hist = os.path.join(tmp, "history.jsonl")
        recs = pages.history_records()
        with open(hist, "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in recs))
        monitor_html = os.path.join(tmp, "monitor.html")
        r = pages.lsc_run(lsc, "monitor-report", hist, "--html", monitor_html)
        have_monitor = r.returncode == 0
        if not have_monitor:
            print(f"(no history page: {r.stderr.strip()})")
        mon_expected = {}
        for rec in recs:
            s = rec["step"]
            for name, v in rec["verdicts"].items():
                mon_expected[f"monitor.{name}.matched.{s}"] = v["statistic"]["matched"]
                mon_expected[f"monitor.{name}.baseline.{s}"] = v["baseline"]["value"]
            for k in ("precision", "recall", "density", "coverage", "coverage_expected"):
                mon_expected[f"monitor.{k}.{s}"] = rec["prdc"][k]
            for k in ("effective_rank", "vendi_cosine", "dims_90", "active_units"):
                mon_expected[f"monitor.{k}.{s}"] = rec["spectrum"][k]
            for k, v in rec["trend"].items():
                mon_expected[f"monitor.trend.{k}.{s}"] = v
            for w in rec["warnings"]:
                mon_expected[f"monitor.warning.{w}.{s}"] = s
        for width in WIDTHS:
            try:
                d = browser(width, chromium, driver_path)
            except Exception as e:  # the driver's own message says what is wrong
                pages.check(False, f"chromium starts at {width}px ({type(e).__name__}: {str(e)[:300]})")
                continue
            try:
                visit(d, "file://" + report_html, pages.SECTIONS_REPORT, pages.expected_marks(j),
                      "report page", width, shots)
                if have_monitor:
                    visit(d, "file://" + monitor_html, pages.SECTIONS_MONITOR, mon_expected,
                          "history page", width, shots)
            finally:
                d.quit()
    if pages.failures:
        print(f"{len(pages.failures)} check(s) failed", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
