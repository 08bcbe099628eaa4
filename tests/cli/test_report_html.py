#!/usr/bin/env python3
"""The report's page (`lsc report --html`) and the history page (`lsc monitor-report`), read as
files (tests/cli/test_report_browser.py opens them in a browser):

    python test_report_html.py PATH/TO/lsc

Needs numpy only. Checks:
  - the page is one self-contained document: a Content-Security-Policy of default-src 'none', no
    script, no external reference (src, href, url(), @import), every section present;
  - every plotted mark's data-value equals the figure of the JSON written by the same run (the
    verdicts' evidence, both spectra's scree and cumulative points and dims_90/99, the
    nearest-neighbour histograms and the memorisation line, PRDC and its baselines, each class),
    and every figure the JSON holds for the page is drawn;
  - the nearest-neighbour histograms count every query row, their real median is the all-pairs
    pass's nn_median, and the memorisation line is 0.25 x it;
  - a path holding <, >, &, quotes is escaped wherever it appears;
  - the page's size does not grow with the rows: 2,000 and 20,000 real rows give pages within 10%;
  - monitor-report draws a history's records (every matched statistic, baseline and warning read
    back), and refuses a truncated line, a non-object, a foreign or later format, invalid
    UTF-8 and deep nesting with exit 2 naming the line; a missing --html or history is exit 2.
Exit 0 when every check passes, 1 otherwise, 2 on a usage or environment error.
"""
import html.parser
import json
import math
import os
import re
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"report html: cannot import numpy ({e})", file=sys.stderr)
    sys.exit(2)

failures = []

SECTIONS_REPORT = ["verdicts", "spectra", "neighbours", "prdc", "classes", "rows", "inputs"]
SECTIONS_MONITOR = ["verdicts", "prdc", "trend"]


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def lsc_run(lsc, *args):
    return subprocess.run([lsc, *args], capture_output=True, text=True)


class Marks(html.parser.HTMLParser):
    """Every element's tag and attributes, and the document's text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse_page(path):
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    p = Marks()
    p.feed(doc)
    return doc, p


def page_values(p):
    """{data-key: data-value as float or None} of the marks that carry a value."""
    out = {}
    for _, a in p.elements:
        if "data-key" in a and "data-value" in a:
            v = a["data-value"]
            out[a["data-key"]] = None if v == "null" else float(v)
    return out


def expected_marks(j):
    """The marks the report's page must draw, from its JSON: {data-key: value or None}."""
    e = {}
    for name, v in (j.get("verdicts") or {}).items():
        e[f"verdict.{name}.matched"] = v["statistic"]["matched"]
        e[f"verdict.{name}.value"] = v["statistic"]["value"]
        e[f"verdict.{name}.baseline"] = v["baseline"]["value"]
        e[f"verdict.{name}.interval_lo"] = v["interval"][0]
        e[f"verdict.{name}.interval_hi"] = v["interval"][1]
    for s, sp in j["spectrum"].items():
        sv = np.asarray(sp["singular_values"], dtype=np.float64)
        lam = sv * sv
        frac, cum = lam / lam.sum(), np.cumsum(lam) / lam.sum()
        for i in range(len(sv)):
            if frac[i] >= frac.max() * 1e-10:
                e[f"spectrum.{s}.scree.{i}"] = frac[i]
            e[f"spectrum.{s}.cumulative.{i}"] = cum[i]
        e[f"spectrum.{s}.dims_90"] = sp["dims_90"]
        e[f"spectrum.{s}.dims_99"] = sp["dims_99"]
    nn = j.get("nearest_neighbour")
    for s in ("real_real", "fake_fake", "fake_real"):
        if nn and s in nn:
            for i, c in enumerate(nn[s]["counts"]):
                e[f"nn.{s}.{i}"] = c
            e[f"nn.{s}.median"] = nn[s]["median"]
            if nn["memorisation_line"] is not None:
                e[f"nn.{s}.memorisation_line"] = nn["memorisation_line"]
    if "prdc" in j:
        for f in ("precision", "recall", "density", "coverage"):
            e[f"prdc.{f}"] = j["prdc"][f]
        for name, v in j["verdicts"].items():
            f = v["statistic"]["name"]
            if f in ("precision", "recall", "density", "coverage"):
                e[f"prdc.{f}.matched"] = v["statistic"]["matched"]
                e[f"prdc.{f}.baseline"] = v["baseline"]["value"]
                e[f"prdc.{f}.interval_lo"] = v["interval"][0]
                e[f"prdc.{f}.interval_hi"] = v["interval"][1]
    for c in j.get("classes", []):
        e[f"class.{c['label']}.matched"] = c["missing"]["matched"]
        e[f"class.{c['label']}.baseline"] = c["missing"]["baseline"]
    return e


def same(a, b):
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b):
        return (a is None or not math.isfinite(a)) and (b is None or not math.isfinite(b))
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def compare_marks(drawn, expected, what):
    """Every drawn mark equals its JSON figure; every JSON figure with a finite value is drawn.
    (Also used by the browser test on the values it reads back.)"""
    extra = sorted(k for k in drawn if k not in expected and k != "prdc.coverage_expected")
    wrong = sorted(k for k in drawn if k in expected and not same(drawn[k], expected[k]))
    missing = sorted(k for k, v in expected.items()
                     if k not in drawn and v is not None and math.isfinite(v))
    check(not extra, f"{what}: every drawn mark is a JSON figure ({len(drawn)} marks; extra {extra[:5]})")
    check(not wrong, f"{what}: every drawn value equals the JSON's "
          f"({[(k, drawn[k], expected[k]) for k in wrong[:5]]})")
    check(not missing, f"{what}: every figure of the JSON is drawn (missing {missing[:5]})")


def self_contained(doc, p, what):
    tags = [t for t, _ in p.elements]
    csp = [a.get("content", "") for t, a in p.elements
           if t == "meta" and a.get("http-equiv", "").lower() == "content-security-policy"]
    check(len(csp) == 1 and "default-src 'none'" in csp[0] and "script-src" not in csp[0],
          f"{what}: a Content-Security-Policy of default-src 'none' ({csp})")
    check("script" not in tags, f"{what}: no script element")
    refs = [(t, k, v) for t, a in p.elements for k, v in a.items()
            if k in ("src", "href", "xlink:href", "srcset", "action", "data", "poster")]
    check(not refs, f"{what}: no attribute that references anything ({refs[:3]})")
    check(not re.search(r"url\s*\(|@import", doc, re.I), f"{what}: no url() or @import in the styles")
    check(not re.search(r"\son[a-z]+\s*=", doc, re.I), f"{what}: no inline event handler")


def sections(p, ids, what):
    have = {a.get("id") for t, a in p.elements if t == "section"}
    check(all(i in have for i in ids), f"{what}: every section present ({sorted(have)})")


def make_sets(rng, n_real, d=16, n_fake=400, classes=4):
    centres = rng.standard_normal((classes, d)) * 4
    lab = rng.integers(0, classes, n_real)
    real = (centres[lab] + rng.standard_normal((n_real, d))).astype(np.float32)
    # a generator that lost class 0 and copies a few real rows
    flab = rng.integers(1, classes, n_fake)
    fake = (centres[flab] + 0.9 * rng.standard_normal((n_fake, d))).astype(np.float32)
    fake[:6] = real[:6]
    fake[10:14] = fake[20]            # near-duplicate pairs within the generated set
    return real, fake, lab.astype(np.int64)


def report(lsc, tmp, real, fake, labels, tag, fake_name="fake.npy", extra=()):
    rp, fp, lp = (os.path.join(tmp, f"{tag}_real.npy"), os.path.join(tmp, f"{tag}_{fake_name}"),
                  os.path.join(tmp, f"{tag}_labels.npy"))
    np.save(rp, real)
    np.save(fp, fake)
    np.save(lp, labels)
    jp, hp = os.path.join(tmp, f"{tag}.json"), os.path.join(tmp, f"{tag}.html")
    r = lsc_run(lsc, "report", "--real", rp, "--fake", fp, "--labels", lp, "--json", jp, "--html",
                hp, "--backend", "cpu", "--progress", "never", *extra)
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
        raise SystemExit(f"lsc report exited {r.returncode}")
    with open(jp) as f:
        return json.load(f), hp, fp


def test_report(lsc, tmp):
    rng = np.random.default_rng(22)
    real, fake, lab = make_sets(rng, 800)
    j, hp, fp = report(lsc, tmp, real, fake, lab, "a", fake_name="x<b>&'\"y.npy")
    doc, p = parse_page(hp)
    self_contained(doc, p, "report page")
    sections(p, SECTIONS_REPORT, "report page")
    compare_marks(page_values(p), expected_marks(j), "report page")
    levels = {a["data-key"]: a.get("data-level") for t, a in p.elements
              if a.get("data-key", "").startswith("verdict") and "data-level" in a}
    check(levels.get("verdict") == j["verdict"] and
          all(levels.get(f"verdict.{n}.level") == v["level"] for n, v in j["verdicts"].items()),
          "report page: the headline and every check's level equal the JSON's")
    nn = j["nearest_neighbour"]
    check(sum(nn["real_real"]["counts"]) == 800 and sum(nn["fake_fake"]["counts"]) == 400 and
          sum(nn["fake_real"]["counts"]) == 400, "nearest_neighbour: every query row counted once")
    # kNN distances are exact float64 sums rounded to float32 (lsc.h): 1e-6 relative
    close = lambda a, b: abs(a - b) <= 1e-6 * abs(b)
    check(close(nn["real_real"]["median"], j["pairwise"]["real"]["nn_median"]) and
          close(nn["fake_fake"]["median"], j["pairwise"]["fake"]["nn_median"]),
          "nearest_neighbour: each set's median is the all-pairs pass's nn_median "
          f"({nn['real_real']['median']} {j['pairwise']['real']['nn_median']})")
    check(same(nn["memorisation_line"], 0.25 * nn["real_real"]["median"]),
          "nearest_neighbour: memorisation line = 0.25 x the real median")
    check(nn["fake_real"]["counts"][0] >= 6, "nearest_neighbour: the copied rows sit in the first bin")
    check(len(nn["edges"]) == 65 and nn["edges"][0] == 0, "nearest_neighbour: 64 bins from 0")
    check("nearest_neighbour" in j["timings_ms"], "timings_ms carries the histograms' pass")
    # the hostile file name: escaped in text and attributes, never markup
    check("x<b>" not in doc and "x&lt;b&gt;&amp;&#39;&quot;y.npy" in doc,
          "a path with < > & ' \" is escaped")
    check(not any(t == "b" for t, _ in p.elements), "no element comes from a path")
    text = "".join(p.text)
    check(os.path.basename(fp) in text, "the escaped path reads back as the file's name")
    check(all(str(i) in text for i in j["uncovered_rows"][:5]), "the first uncovered rows are listed")
    dups = j["pairwise"]["fake"]["near_duplicates"]
    check(len(dups) > 0 and all(a in p.elements for a in [("table", {"id": "dups-fake"})]),
          "the generated set's near-duplicate pairs are listed")
    # without --html the JSON keeps its previous shape
    r = lsc_run(lsc, "report", "--real", os.path.join(tmp, "a_real.npy"), "--fake", fp, "--json", "-",
                "--backend", "cpu", "--progress", "never")
    check(r.returncode == 0 and "nearest_neighbour" not in json.loads(r.stdout),
          "without --html no nearest-neighbour pass (no nearest_neighbour in the JSON)")
    # one set only: a page without verdicts
    hp1 = os.path.join(tmp, "one.html")
    r = lsc_run(lsc, "report", "--real", os.path.join(tmp, "a_real.npy"), "--html", hp1, "--backend", "cpu",
                "--progress", "never")
    doc1, p1 = parse_page(hp1) if r.returncode == 0 else ("", Marks())
    check(r.returncode == 0 and "spectrum.real.scree.0" in page_values(p1) and
          "nn.real_real.0" in page_values(p1), "one set: the page draws its spectrum and histogram")
    # refused outputs
    r = lsc_run(lsc, "report", "--real", os.path.join(tmp, "a_real.npy"), "--html",
                os.path.join(tmp, "a_real.npy"))
    check(r.returncode == 2 and "--html" in r.stderr, f"--html naming an input: exit 2 ({r.stderr.strip()})")
    r = lsc_run(lsc, "report", "--real", os.path.join(tmp, "a_real.npy"), "--html", "-")
    check(r.returncode == 2 and "--html" in r.stderr and not r.stdout, "--html - (stdout): exit 2")
    r = lsc_run(lsc, "report", "--real", os.path.join(tmp, "a_real.npy"), "--html", tmp)
    check(r.returncode == 2 and "directory" in r.stderr, "--html naming a directory: exit 2")


def test_size(lsc, tmp):
    """Binned: the page's size does not follow the rows."""
    sizes = []
    for n in (2000, 20000):
        rng = np.random.default_rng(7)
        real, fake, lab = make_sets(rng, n)
        # the all-pairs and histogram passes on a 2,000-row subset keep this test to seconds
        # (the verdicts still see every row; what is drawn has the same shape either way)
        _, hp, _ = report(lsc, tmp, real, fake, lab, f"n{n}", extra=("--pairs-max-rows", "2000"))
        sizes.append(os.path.getsize(hp))
    check(abs(sizes[1] - sizes[0]) <= 0.1 * sizes[0] and sizes[1] < 2e6,
          f"page size at 2,000 and 20,000 real rows within 10% ({sizes})")


def history_records(n=30):
    """A Monitor's history as lsc.Monitor(history_path=...) writes it (docs/FILES.md)."""
    recs = []
    rng = np.random.default_rng(3)
    for t in range(n):
        cov = 0.8 - (0.02 * (t - 20) if t > 20 else 0) + 0.01 * rng.standard_normal()
        v = {"level": "ok" if t < 25 else "collapse",
             "statistic": {"name": "coverage", "value": cov, "matched": cov},
             "baseline": {"value": 0.8, "spread": 0.01, "method": "held-out"},
             "interval": [0.77, 0.83], "effect": 0.0, "score": 0.0, "lines": [0.03, 0.15], "why": "w"}
        m = dict(v, level="not_assessed", statistic={"name": "copy_fraction", "value": 0.0, "matched": None},
                 baseline={"value": 0.0, "spread": None, "method": "m"}, interval=[None, None])
        recs.append({"format": "lsc-monitor-history", "version": 1, "step": 100 * t,
                     "asynchronous": False, "call_ms": 1.5,
                     "spectrum": {"effective_rank": 10 - 0.1 * t, "vendi_cosine": 9.0, "dims_90": 8,
                                  "active_units": 16},
                     "prdc": {"precision": 0.9, "recall": 0.8, "density": 1.0, "coverage": cov,
                              "coverage_expected": 0.81},
                     "verdict": v["level"], "verdicts": {"mode_collapse": v, "memorisation": m},
                     "not_assessed": ["memorisation"],
                     "trend": {"mode_collapse": 0.5 * t} if t >= 10 else {},
                     "trend_h": 8.0, "warnings": ["mode_collapse"] if t in (24, 28) else []})
    return recs


def test_monitor_report(lsc, tmp):
    recs = history_records()
    hist = os.path.join(tmp, "history.jsonl")
    with open(hist, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
        f.write("\n")                  # a blank line carries nothing
    out = os.path.join(tmp, "monitor.html")
    r = lsc_run(lsc, "monitor-report", hist, "--html", out)
    if r.returncode != 0 and "without cJSON" in r.stderr:
        print(f"SKIPPED: monitor-report: {r.stderr.strip()}")
        return
    check(r.returncode == 0, f"monitor-report writes the page ({r.stderr.strip()})")
    if r.returncode != 0:
        return
    doc, p = parse_page(out)
    self_contained(doc, p, "history page")
    sections(p, SECTIONS_MONITOR, "history page")
    vals = page_values(p)
    exp = {}
    for rec in recs:
        s = rec["step"]
        v = rec["verdicts"]["mode_collapse"]
        exp[f"monitor.mode_collapse.matched.{s}"] = v["statistic"]["matched"]
        exp[f"monitor.mode_collapse.baseline.{s}"] = v["baseline"]["value"]
        exp[f"monitor.memorisation.baseline.{s}"] = 0.0
        for f in ("precision", "recall", "density", "coverage", "coverage_expected"):
            exp[f"monitor.{f}.{s}"] = rec["prdc"][f]
        for f in ("effective_rank", "vendi_cosine", "dims_90", "active_units"):
            exp[f"monitor.{f}.{s}"] = rec["spectrum"][f]
        if "mode_collapse" in rec["trend"]:
            exp[f"monitor.trend.mode_collapse.{s}"] = rec["trend"]["mode_collapse"]
        for w in rec["warnings"]:
            exp[f"monitor.warning.{w}.{s}"] = s
    compare_marks(vals, exp, "history page")
    # hostile and broken histories: exit 2 naming the line, no page left behind
    good = json.dumps(recs[0])
    bad = {
        "truncated": (good + "\n" + good[: len(good) // 2] + "\n", 2),
        "not an object": (good + "\n" + good + "\n[1, 2]\n", 3),
        "no step": (json.dumps({k: v for k, v in recs[0].items() if k != "step"}) + "\n", 1),
        "foreign format": (json.dumps(dict(recs[0], format="other")) + "\n", 1),
        "later version": (json.dumps(dict(recs[0], version=2)) + "\n", 1),
        "deep nesting": (good + "\n" + "[" * 100000 + "\n", 2),
        "bad level": (json.dumps(dict(recs[0], verdicts={"x": dict(recs[0]["verdicts"]["mode_collapse"],
                                                                   level="maybe")})) + "\n", 1),
        "verdicts not an object": (json.dumps(dict(recs[0], verdicts=[1])) + "\n", 1),
    }
    for name, (content, line) in bad.items():
        path = os.path.join(tmp, "bad.jsonl")
        with open(path, "wb") as f:
            f.write(content.encode())
        out2 = os.path.join(tmp, "bad.html")
        if os.path.exists(out2):
            os.remove(out2)
        r = lsc_run(lsc, "monitor-report", path, "--html", out2)
        ok = r.returncode == 2 and f"bad.jsonl:{line}:" in r.stderr and not os.path.exists(out2)
        check(ok, f"monitor-report, {name}: exit 2 naming line {line} ({r.returncode}: {r.stderr.strip()[:120]})")
    # bytes that are no UTF-8 in a check's name: the page stays valid UTF-8 and escapes them
    path = os.path.join(tmp, "utf.jsonl")
    with open(path, "wb") as f:
        f.write(good.encode() + b"\n" + good.replace('"mode_collapse"', '"m\\u00ff<i>"').encode()
                .replace(b"m\\u00ff", b"m\xff\xfe") + b"\n")
    out3 = os.path.join(tmp, "utf.html")
    r = lsc_run(lsc, "monitor-report", path, "--html", out3)
    ok = r.returncode == 0
    if ok:
        with open(out3, "rb") as f:
            raw = f.read()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            ok = False
        ok = ok and b"<i>" not in raw and b"&lt;i&gt;" in raw
    check(ok, f"monitor-report, invalid UTF-8 and markup in a name: a valid, escaped page ({r.stderr.strip()})")
    empty = os.path.join(tmp, "empty.jsonl")
    open(empty, "w").close()
    r = lsc_run(lsc, "monitor-report", empty, "--html", os.path.join(tmp, "e.html"))
    check(r.returncode == 2 and "no records" in r.stderr, "monitor-report, empty history: exit 2")
    r = lsc_run(lsc, "monitor-report", hist)
    check(r.returncode == 2 and "--html" in r.stderr, "monitor-report without --html: exit 2")
    r = lsc_run(lsc, "monitor-report", os.path.join(tmp, "nope.jsonl"), "--html", os.path.join(tmp, "e.html"))
    check(r.returncode == 2 and "nope.jsonl" in r.stderr, "monitor-report, a missing history: exit 2")
    r = lsc_run(lsc, "monitor-report", hist, "--html", hist)
    check(r.returncode == 2 and os.path.getsize(hist) > 0, "monitor-report refuses to overwrite its history")
    r = lsc_run(lsc, "monitor-report", "--help")
    check(r.returncode == 0 and "HISTORY.jsonl" in r.stdout, "monitor-report --help")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    lsc = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        test_report(lsc, tmp)
        test_size(lsc, tmp)
        test_monitor_report(lsc, tmp)
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
