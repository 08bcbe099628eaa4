/* The report's page: one self-contained HTML document drawn from the figures the JSON holds.
 * Inline CSS and SVG only: no script, no font, no image, nothing the page fetches, so it opens
 * offline, from a CI artefact or a mail attachment, and its Content-Security-Policy forbids
 * every request. Every figure is binned: the page's size depends on D, the bins and the lists'
 * caps, never on the number of rows. Every plotted mark carries data-key / data-value so that a
 * test reads the drawn numbers back and compares them with the JSON. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- primitives -------------------------------------------------------------------------------- */

void html_text(FILE *f, const char *s)
{
    if (!s) return;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = cli_utf8_len(p);
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            /* a file name may hold any byte: keep the page valid UTF-8 and show where */
            if (n == 0 || (*p < 0x20 && *p != '\n' && *p != '\t')) fputs("&#xFFFD;", f);
            else fwrite(p, 1, (size_t)n, f);
        }
        p += n ? n : 1;
    }
}

/* data-value: 17 significant digits read back exactly; non-finite as the JSON's null */
static void value_attr(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, " data-value=\"%.17g\"", v);
    else fputs(" data-value=\"null\"", f);
}

static void key_attr(FILE *f, const char *key)
{
    fputs(" data-key=\"", f);
    html_text(f, key);
    fputc('"', f);
}

/* a figure for people: 4 significant digits, n/a for non-finite */
static const char *g4(char *buf, size_t n, double v)
{
    if (!isfinite(v)) snprintf(buf, n, "n/a");
    else snprintf(buf, n, "%.4g", v);
    return buf;
}

const char *html_level_class(const char *level)
{
    if (!level) return "na";
    if (!strcmp(level, "ok") || !strcmp(level, "borderline") || !strcmp(level, "collapse"))
        return level;
    return "na";
}

static const char *CSS =
    ":root{--real:#1f6fb2;--fake:#e07000;--cross:#7a3c9c;--ok:#2e7d32;--borderline:#b7791f;"
    "--collapse:#c62828;--na:#6b6b6b;--ink:#1d1d1f;--muted:#5f6368;--rule:#dadce0}"
    "*{box-sizing:border-box}"
    "body{margin:0;font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--ink);"
    "background:#f6f7f9}"
    "main{max-width:1100px;margin:0 auto;padding:16px}"
    "h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:0 0 .5em;border-bottom:1px solid var(--rule);"
    "padding-bottom:.25em}h3{font-size:1.05em;margin:0 0 .25em}"
    "section{background:#fff;border:1px solid var(--rule);border-radius:8px;padding:14px 16px;margin:14px 0}"
    "p{margin:.35em 0}.muted{color:var(--muted);font-size:.9em}"
    ".badge{display:inline-block;padding:.05em .6em;border-radius:1em;color:#fff;font-weight:600;"
    "font-size:.85em;vertical-align:middle}"
    ".badge.ok{background:var(--ok)}.badge.borderline{background:var(--borderline)}"
    ".badge.collapse{background:var(--collapse)}.badge.na{background:var(--na)}"
    ".headline{font-size:1.15em}.headline .badge{font-size:1em}"
    ".checks{display:grid;grid-template-columns:repeat(auto-fit,minmax(330px,1fr));gap:12px}"
    ".check{border:1px solid var(--rule);border-left:6px solid var(--na);border-radius:6px;padding:10px 12px}"
    ".check.ok{border-left-color:var(--ok)}.check.borderline{border-left-color:var(--borderline)}"
    ".check.collapse{border-left-color:var(--collapse)}"
    ".why{font-size:.92em}"
    ".stack{display:grid;grid-template-columns:1fr;gap:6px;max-width:760px}"
    ".grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px}"
    "figure{margin:0}figcaption{font-size:.88em;color:var(--muted)}"
    "svg{display:block;width:100%;height:auto;max-width:720px;overflow:visible}"
    "svg text{font-size:12px;fill:var(--ink)}svg .tick text{fill:var(--muted);font-size:11px}"
    "svg .axis{stroke:#9aa0a6;stroke-width:1}svg .grid{stroke:#eceff1;stroke-width:1}"
    ".real{fill:var(--real);stroke:var(--real)}.fake{fill:var(--fake);stroke:var(--fake)}"
    ".cross{fill:var(--cross);stroke:var(--cross)}"
    "rect.real,rect.fake,rect.cross{stroke:none;fill-opacity:.85}"
    "polyline{fill:none!important;stroke-width:1.6}circle{stroke:none}"
    ".memline{stroke:var(--collapse);stroke-width:1.5;stroke-dasharray:5 3}"
    ".guide{stroke:var(--muted);stroke-width:1;stroke-dasharray:3 3}"
    ".dims.real{stroke-dasharray:4 2}.dims.fake{stroke-dasharray:2 2}"
    ".band{fill:#e8eaed;stroke:none}.band2{fill:#c9ced6;stroke:none}"
    ".edge{stroke:#80868b;stroke-width:1.5}.base{stroke:var(--ink);stroke-width:2}circle.base{r:1.6px;fill:var(--ink)}"
    ".pt-ok{fill:var(--ok)}.pt-borderline{fill:var(--borderline)}.pt-collapse{fill:var(--collapse)}"
    ".pt-na{fill:var(--na)}.full{fill:#fff;stroke:var(--ink);stroke-width:1.5}"
    ".bar-ok{fill:var(--ok)}.bar-borderline{fill:var(--borderline)}.bar-collapse{fill:var(--collapse)}"
    ".bar-na{fill:var(--na)}.bar-value{fill:#8ab4f8}"
    ".legend{font-size:.88em;color:var(--muted)}.legend span{white-space:nowrap;margin-right:1em}"
    ".sw{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.3em;vertical-align:-.05em}"
    "table{border-collapse:collapse;font-size:.9em;margin:.3em 0}td,th{padding:.2em .7em .2em 0;text-align:left;"
    "vertical-align:top;border-bottom:1px solid #f0f0f0}th{color:var(--muted);font-weight:600}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".scroll{overflow-x:auto;max-width:100%}"
    ".rows{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;word-break:break-word}"
    "code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;word-break:break-all}"
    "@media (max-width:560px){main{padding:8px}section{padding:10px}body{font-size:14px}"
    ".checks,.grid2{grid-template-columns:1fr}}";

void html_begin(FILE *f, const char *title)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n", f);
    /* nothing may be fetched: inline styles only (the SVGs are inline elements, not images) */
    fputs("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; img-src data:\">\n",
          f);
    fputs("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
    html_text(f, title);
    fputs("</title>\n<style>", f);
    fputs(CSS, f);
    fputs("</style>\n</head>\n<body>\n<main>\n", f);
}

void html_end(FILE *f) { fputs("</main>\n</body>\n</html>\n", f); }

/* ---- plots --------------------------------------------------------------------------------------- */

void html_plot_init(html_plot *p, double w, double h, double x0, double x1, double y0, double y1)
{
    memset(p, 0, sizeof *p);
    p->w = w;
    p->h = h;
    p->l = 58;
    p->r = 14;
    p->t = 26;
    p->b = 40;
    p->x0 = x0;
    p->x1 = x1;
    p->y0 = y0;
    p->y1 = y1;
}

static double axis_pos(double v, double a, double b, int lg)
{
    if (lg) {
        v = v > 0 ? log10(v) : -INFINITY;
        a = log10(a);
        b = log10(b);
    }
    return b > a ? (v - a) / (b - a) : 0.5;
}

double html_px(const html_plot *p, double x)
{
    return p->l + (p->w - p->l - p->r) * axis_pos(x, p->x0, p->x1, p->logx);
}

double html_py(const html_plot *p, double y)
{
    return p->h - p->b - (p->h - p->t - p->b) * axis_pos(y, p->y0, p->y1, p->logy);
}

/* Tick positions: 1, 2 or 5 x 10^k steps, about `want` of them; decades on a log axis. */
static int ticks(double a, double b, int lg, int want, double *out, int max)
{
    int n = 0;
    if (!(b > a) || !isfinite(a) || !isfinite(b)) {
        out[0] = a;
        return 1;
    }
    if (lg) {
        int d0 = (int)ceil(log10(a) - 1e-9), d1 = (int)floor(log10(b) + 1e-9);
        int step = (d1 - d0) / want + 1;
        for (int d = d0; d <= d1 && n < max; d += step) out[n++] = pow(10.0, d);
        return n;
    }
    double raw = (b - a) / want, mag = pow(10.0, floor(log10(raw))), st = mag;
    if (raw / mag > 5) st = 10 * mag;
    else if (raw / mag > 2) st = 5 * mag;
    else if (raw / mag > 1) st = 2 * mag;
    for (double v = ceil(a / st - 1e-9) * st; v <= b + st * 1e-9 && n < max; v += st)
        out[n++] = fabs(v) < st * 1e-9 ? 0.0 : v;
    return n;
}

static void tick_label(char *buf, size_t n, double v, int lg)
{
    if (lg) {
        int e = (int)lround(log10(v));
        if (e >= -2 && e <= 3) snprintf(buf, n, "%g", v);
        else snprintf(buf, n, "1e%d", e);
    } else {
        snprintf(buf, n, "%.4g", v);
    }
}

void html_plot_begin(FILE *f, const html_plot *p, const char *title, const char *xlabel,
                     const char *ylabel)
{
    fprintf(f, "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", p->w, p->h);
    html_text(f, title);
    fputs("\">\n", f);
    if (title && *title) {
        fprintf(f, "<text x=\"%.1f\" y=\"15\" font-weight=\"600\">", p->l);
        html_text(f, title);
        fputs("</text>\n", f);
    }
    double tv[32];
    char lab[32];
    const double xl = p->l, xr = p->w - p->r, yt = p->t, yb = p->h - p->b;
    int nx = ticks(p->x0, p->x1, p->logx, 5, tv, 32);
    fputs("<g class=\"tick\">", f);
    for (int i = 0; i < nx; i++) {
        double x = html_px(p, tv[i]);
        tick_label(lab, sizeof lab, tv[i], p->logx);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, yt,
                x, yb);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>", x, yb + 14, lab);
    }
    int ny = p->y1 > p->y0 ? ticks(p->y0, p->y1, p->logy, 4, tv, 32) : 0;
    for (int i = 0; i < ny; i++) {
        double y = html_py(p, tv[i]);
        tick_label(lab, sizeof lab, tv[i], p->logy);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", xl, y,
                xr, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>", xl - 5, y + 4, lab);
    }
    fputs("</g>\n", f);
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", xl, yb, xr,
            yb);
    if (ny)
        fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", xl,
                yt, xl, yb);
    if (xlabel && *xlabel) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"muted\">",
                (xl + xr) / 2, p->h - 6);
        html_text(f, xlabel);
        fputs("</text>\n", f);
    }
    if (ylabel && *ylabel) {
        fprintf(f, "<text transform=\"translate(12 %.1f) rotate(-90)\" text-anchor=\"middle\">",
                (yt + yb) / 2);
        html_text(f, ylabel);
        fputs("</text>\n", f);
    }
}

void html_plot_end(FILE *f) { fputs("</svg>\n", f); }

void html_point(FILE *f, const html_plot *p, double x, double y, const char *cls, const char *key,
                double value)
{
    double cx = html_px(p, x), cy = html_py(p, y);
    if (!isfinite(cx) || !isfinite(cy)) return;
    fprintf(f, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"", cls, cx, cy);
    key_attr(f, key);
    value_attr(f, value);
    fputs("/>\n", f);
}

void html_vline(FILE *f, const html_plot *p, double x, const char *cls, const char *key,
                double value, const char *label)
{
    double vx = html_px(p, x);
    if (!isfinite(vx)) return;
    fprintf(f, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"", cls, vx, p->t,
            vx, p->h - p->b);
    key_attr(f, key);
    value_attr(f, value);
    fputs("/>\n", f);
    if (label && *label) {
        /* the label sits inside the plot, on the side with more room */
        int right = vx < (p->l + p->w - p->r) / 2;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" class=\"muted\">",
                vx + (right ? 4 : -4), p->t + 12, right ? "start" : "end");
        html_text(f, label);
        fputs("</text>\n", f);
    }
}

void html_polyline(FILE *f, const html_plot *p, const double *x, const double *y, int64_t n,
                   const char *cls)
{
    fprintf(f, "<polyline class=\"%s\" points=\"", cls);
    for (int64_t i = 0; i < n; i++) {
        double px = html_px(p, x[i]), py = html_py(p, y[i]);
        if (isfinite(px) && isfinite(py)) fprintf(f, "%.1f,%.1f ", px, py);
    }
    fputs("\"/>\n", f);
}

/* A bar from y = base to y = v at x0..x1 (data units). */
static void bar(FILE *f, const html_plot *p, double x0, double x1, double v, const char *cls,
                const char *key, double value)
{
    double a = html_px(p, x0), b = html_px(p, x1), y = html_py(p, v), y0 = html_py(p, p->y0);
    if (!isfinite(y)) y = y0;
    fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"", cls, a,
            y < y0 ? y : y0, fabs(b - a) > 0.6 ? fabs(b - a) - 0.3 : 0.3, fabs(y0 - y));
    key_attr(f, key);
    value_attr(f, value);
    fputs("/>\n", f);
}

/* A horizontal bar from x = x0 to x = v in the row y0..y1 (pixels). */
static void hbar(FILE *f, const html_plot *p, double v, double ya, double yb, const char *cls,
                 const char *key, double value)
{
    double a = html_px(p, p->x0), b = html_px(p, v);
    if (!isfinite(b)) b = a;
    fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"", cls, a,
            ya, b > a ? b - a : 0, yb - ya);
    key_attr(f, key);
    value_attr(f, value);
    fputs("/>\n", f);
}

/* A short vertical tick at x across the row ya..yb (pixels). */
static void htick(FILE *f, const html_plot *p, double x, double ya, double yb, const char *cls,
                  const char *key, double value)
{
    double vx = html_px(p, x);
    if (!isfinite(vx)) return;
    fprintf(f, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"", cls, vx, ya,
            vx, yb);
    key_attr(f, key);
    value_attr(f, value);
    fputs("/>\n", f);
}

/* ---- sections ------------------------------------------------------------------------------------- */

static const char *const SET_NAME[2] = {"real", "fake"};

/* The readings (the verdicts' one-line summaries), as a list after `heading`; nothing without. */
static void html_readings(FILE *f, const cli_html_report *r, const char *heading)
{
    if (r->nread <= 0) return;
    fputs(heading, f);
    fputs("<ul>", f);
    for (int i = 0; i < r->nread; i++) {
        fputs("<li>", f);
        html_text(f, r->readings[i]);
        fputs("</li>", f);
    }
    fputs("</ul>\n", f);
}

/* The verdicts, each with its evidence on one number line: the 99% interval of a generated set
 * from the real distribution, the baseline +- its spread, the matched statistic the decision
 * uses and the user's full-size figure. */
static void section_verdicts(FILE *f, const cli_html_report *r)
{
    char key[96];
    fputs("<section id=\"verdicts\">\n<h2>Verdicts</h2>\n", f);
    if (!r->a) {
        fputs(
            "<p>No verdicts: they judge a generated set (<code>--fake</code>) against the real one.</p>\n",
            f);
        html_readings(f, r, "");
        fputs("</section>\n", f);
        return;
    }
    const char *lv = lsc_level_name(lsc_assessment_level(r->a));
    fprintf(
        f,
        "<p class=\"headline\">Verdict: <span class=\"badge %s\" data-key=\"verdict\" data-level=\"%s\">%s</span></p>\n",
        html_level_class(lv), lv, lv);
    fputs(
        "<p class=\"muted\">Each check compares a statistic of the generated rows with the same statistic of "
        "held-out real rows at the same sizes (docs/METRICS.md section 8, Verdicts). On each line: the grey "
        "band is where the statistic falls with probability 0.99 for a generated set from the real "
        "distribution, the darker band the baseline &plusmn; its spread, the black tick the baseline, the "
        "filled dot the matched-size statistic the decision uses (coloured by level), the hollow dot the "
        "full-size figure.</p>\n<div class=\"checks\">\n",
        f);
    for (int c = 0; c < LSC_CHECK_COUNT; c++) {
        lsc_verdict v = LSC_VERDICT_INIT;
        if (lsc_assessment_verdict(r->a, (lsc_check)c, &v) != LSC_STATUS_OK) continue;
        const char *name = lsc_check_name(v.check), *level = lsc_level_name(v.level);
        const char *cls = html_level_class(level);
        fprintf(f, "<div class=\"check %s\" id=\"check-%s\">\n<h3>%s <span class=\"badge %s\"", cls,
                name, name, cls);
        snprintf(key, sizeof key, "verdict.%s.level", name);
        key_attr(f, key);
        fprintf(f, " data-level=\"%s\">%s</span></h3>\n<p class=\"why\">", level, level);
        html_text(f, v.why);
        fputs("</p>\n", f);
        /* the line's window holds every finite figure, padded */
        double vals[7] = {v.value,
                          v.matched,
                          v.interval_lo,
                          v.interval_hi,
                          v.baseline - v.spread,
                          v.baseline + v.spread,
                          v.baseline};
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < 7; i++)
            if (isfinite(vals[i])) {
                lo = vals[i] < lo ? vals[i] : lo;
                hi = vals[i] > hi ? vals[i] : hi;
            }
        if (isfinite(lo)) {
            double pad = hi > lo ? 0.08 * (hi - lo) : (fabs(lo) > 0 ? 0.1 * fabs(lo) : 0.5);
            html_plot pl;
            html_plot_init(&pl, 360, 70, lo - pad, hi + pad, 0, 0); /* no y axis: one line */
            pl.t = 8;
            pl.b = 24;
            pl.l = 14;
            html_plot_begin(f, &pl, "", "", "");
            const double ya = 14, yb = 40, ym = 27;
            if (isfinite(v.interval_lo) && isfinite(v.interval_hi))
                fprintf(
                    f,
                    "<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
                    html_px(&pl, v.interval_lo), ya,
                    html_px(&pl, v.interval_hi) - html_px(&pl, v.interval_lo), yb - ya);
            if (isfinite(v.baseline) && isfinite(v.spread))
                fprintf(
                    f,
                    "<rect class=\"band2\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
                    html_px(&pl, v.baseline - v.spread), ya + 6,
                    html_px(&pl, v.baseline + v.spread) - html_px(&pl, v.baseline - v.spread),
                    yb - ya - 12);
            snprintf(key, sizeof key, "verdict.%s.interval_lo", name);
            htick(f, &pl, v.interval_lo, ya, yb, "edge", key, v.interval_lo);
            snprintf(key, sizeof key, "verdict.%s.interval_hi", name);
            htick(f, &pl, v.interval_hi, ya, yb, "edge", key, v.interval_hi);
            snprintf(key, sizeof key, "verdict.%s.baseline", name);
            htick(f, &pl, v.baseline, ya + 2, yb - 2, "base", key, v.baseline);
            if (isfinite(v.value)) {
                fprintf(f, "<circle class=\"full\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\"",
                        html_px(&pl, v.value), ym);
                snprintf(key, sizeof key, "verdict.%s.value", name);
                key_attr(f, key);
                value_attr(f, v.value);
                fputs("/>\n", f);
            }
            if (isfinite(v.matched)) {
                fprintf(f, "<circle class=\"pt-%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\"", cls,
                        html_px(&pl, v.matched), ym);
                snprintf(key, sizeof key, "verdict.%s.matched", name);
                key_attr(f, key);
                value_attr(f, v.matched);
                fputs("/>\n", f);
            }
            html_plot_end(f);
        }
        /* one buffer per figure: they are all formatted before the call reads them */
        char g[10][32];
        fprintf(
            f,
            "<p class=\"muted\">%s: matched %s, baseline %s &plusmn; %s (%s), interval [%s, %s], full size "
            "%s; effect %s, score %s; lines %s / %s</p>\n",
            v.statistic ? v.statistic : "", g4(g[0], 32, v.matched), g4(g[1], 32, v.baseline),
            g4(g[2], 32, v.spread), v.method ? v.method : "", g4(g[3], 32, v.interval_lo),
            g4(g[4], 32, v.interval_hi), g4(g[5], 32, v.value), g4(g[6], 32, v.effect),
            g4(g[7], 32, v.score), g4(g[8], 32, v.borderline_line), g4(g[9], 32, v.collapse_line));
        fputs("</div>\n", f);
    }
    fputs("</div>\n", f);
    html_readings(f, r, "<h3 style=\"margin-top:.8em\">Readings</h3>\n");
    fputs("</section>\n", f);
}

/* Which indices of a spectrum of n values are drawn: every one up to 256, else about 256 spread
 * evenly (the first and the last always). */
static int64_t spectrum_stride(int64_t n) { return n <= 256 ? 1 : (n + 255) / 256; }

/* One set's curve of n values: the strided points at or above `floor_` as readable marks
 * (data-key spectrum.SET.WHAT.i) and the line through exactly those points. */
static void spectrum_curve(FILE *f, const html_plot *pl, const double *x, const double *y,
                           int64_t n, double floor_, const char *set, const char *what)
{
    const int64_t st = spectrum_stride(n);
    char key[96];
    double *px = malloc(sizeof(double) * (size_t)(n / st + 2)),
           *py = malloc(sizeof(double) * (size_t)(n / st + 2));
    int64_t m = 0;
    for (int64_t i = 0; px && py && i < n; i++) {
        if (!(i % st == 0 || i == n - 1) || !(y[i] >= floor_)) continue;
        px[m] = x[i];
        py[m++] = y[i];
    }
    if (px && py) html_polyline(f, pl, px, py, m, set);
    free(px);
    free(py);
    for (int64_t i = 0; i < n; i++) {
        if (!(i % st == 0 || i == n - 1) || !(y[i] >= floor_)) continue;
        snprintf(key, sizeof key, "spectrum.%s.%s.%lld", set, what, (long long)i);
        html_point(f, pl, x[i], y[i], set, key, y[i]);
    }
}

static void section_spectra(FILE *f, const cli_html_report *r)
{
    const cli_html_set *sets[2] = {r->real, r->fake};
    char key[96], lab[64];
    fputs("<section id=\"spectra\">\n<h2>Spectra</h2>\n", f);
    fputs(
        "<p class=\"muted\">The covariance eigenvalues &lambda;<sub>i</sub> = &sigma;<sub>i</sub><sup>2</sup> / "
        "(N &minus; 1) of the centred rows as fractions of the total variance (docs/METRICS.md section 1, "
        "Spectrum of one set), at equal N when both sets are given. A generated set whose curve falls faster "
        "than the real one's spreads over fewer directions.</p>\n",
        f);
    double *frac[2] = {NULL, NULL}, *cum[2] = {NULL, NULL}, *xs[2] = {NULL, NULL};
    int64_t n[2] = {0, 0};
    double fmin = INFINITY, fmax = 0;
    int64_t nmax = 1;
    for (int s = 0; s < 2; s++) {
        const cli_html_set *x = sets[s];
        if (!x || !x->s || !x->sv) continue;
        n[s] = x->s->rank_limit;
        frac[s] = malloc(sizeof(double) * (size_t)(n[s] ? n[s] : 1));
        cum[s] = malloc(sizeof(double) * (size_t)(n[s] ? n[s] : 1));
        xs[s] = malloc(sizeof(double) * (size_t)(n[s] ? n[s] : 1));
        if (!frac[s] || !cum[s] || !xs[s]) {
            n[s] = 0;
            continue;
        }
        double tot = 0;
        for (int64_t i = 0; i < n[s]; i++) tot += x->sv[i] * x->sv[i];
        double acc = 0;
        for (int64_t i = 0; i < n[s]; i++) {
            frac[s][i] = tot > 0 ? x->sv[i] * x->sv[i] / tot : NAN;
            acc += x->sv[i] * x->sv[i];
            cum[s][i] = tot > 0 ? acc / tot : NAN;
            xs[s][i] = (double)(i + 1);
            if (frac[s][i] > 0 && frac[s][i] < fmin) fmin = frac[s][i];
            if (frac[s][i] > fmax) fmax = frac[s][i];
        }
        if (n[s] > nmax) nmax = n[s];
    }
    if (!(fmax > 0)) {
        fputs("<p>No spectrum to draw (every row identical).</p>\n", f);
    } else {
        /* numerically zero eigenvalues (below 1e-10 of the largest, section 1) sit off the plot */
        double floor_ = fmax * 1e-10;
        if (fmin < floor_) fmin = floor_;
        double y0 = pow(10.0, floor(log10(fmin))), y1 = pow(10.0, ceil(log10(fmax) + 1e-12));
        if (!(y1 > y0)) y1 = y0 * 10;
        fputs("<div class=\"legend\">", f);
        for (int s = 0; s < 2; s++)
            if (n[s])
                fprintf(
                    f,
                    "<span><span class=\"sw\" style=\"background:var(--%s)\"></span>%s (%lld rows, D = %lld)</span>",
                    SET_NAME[s], SET_NAME[s], (long long)sets[s]->spec_rows,
                    (long long)sets[s]->cols);
        fputs("</div>\n<div class=\"grid2\">\n<figure>\n", f);
        html_plot pl;
        html_plot_init(&pl, 480, 280, 1, (double)(nmax > 1 ? nmax : 2), y0, y1);
        pl.logy = 1;
        html_plot_begin(f, &pl, "Scree: variance fraction per component (log scale)", "component i",
                        "fraction of variance");
        for (int s = 0; s < 2; s++) {
            if (!n[s]) continue;
            spectrum_curve(f, &pl, xs[s], frac[s], n[s], floor_, SET_NAME[s], "scree");
        }
        html_plot_end(f);
        fputs(
            "<figcaption>Eigenvalues below 10<sup>&minus;10</sup> of the largest (numerically zero) are not "
            "drawn.</figcaption>\n</figure>\n<figure>\n",
            f);
        html_plot_init(&pl, 480, 280, 1, (double)(nmax > 1 ? nmax : 2), 0, 1);
        html_plot_begin(f, &pl, "Cumulative variance, dims_90 and dims_99 marked", "components",
                        "cumulative fraction");
        fprintf(f, "<line class=\"guide\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                pl.l, html_py(&pl, 0.9), pl.w - pl.r, html_py(&pl, 0.9));
        fprintf(f, "<line class=\"guide\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                pl.l, html_py(&pl, 0.99), pl.w - pl.r, html_py(&pl, 0.99));
        for (int s = 0; s < 2; s++) {
            if (!n[s]) continue;
            const lsc_spectrum_result *sr = sets[s]->s;
            snprintf(key, sizeof key, "spectrum.%s.dims_90", SET_NAME[s]);
            snprintf(lab, sizeof lab, "%s dims_90 = %lld", SET_NAME[s], (long long)sr->dims_90);
            html_vline(f, &pl, (double)sr->dims_90, s ? "dims fake" : "dims real", key,
                       (double)sr->dims_90, "");
            snprintf(key, sizeof key, "spectrum.%s.dims_99", SET_NAME[s]);
            html_vline(f, &pl, (double)sr->dims_99, s ? "dims fake" : "dims real", key,
                       (double)sr->dims_99, "");
        }
        for (int s = 0; s < 2; s++) {
            if (!n[s]) continue;
            spectrum_curve(f, &pl, xs[s], cum[s], n[s], -INFINITY, SET_NAME[s], "cumulative");
        }
        html_plot_end(f);
        fputs(
            "<figcaption>Dashed verticals: dims_90 and dims_99 of each set (the fewest components holding 90% and "
            "99% of the variance); dotted horizontals at 0.9 and 0.99.</figcaption>\n</figure>\n</div>\n",
            f);
        fputs("<div class=\"scroll\"><table><tr><th></th>", f);
        for (int s = 0; s < 2; s++)
            if (n[s]) fprintf(f, "<th>%s</th>", SET_NAME[s]);
        fputs("</tr>\n", f);
        static const char *const rowname[] = {
            "effective_rank", "participation_ratio", "stable_rank",  "dims_90",
            "dims_99",        "active_units",        "vendi_cosine", "alpha_req"};
        for (int k = 0; k < 8; k++) {
            fprintf(f, "<tr><td>%s</td>", rowname[k]);
            for (int s = 0; s < 2; s++) {
                if (!n[s]) continue;
                const lsc_spectrum_result *sr = sets[s]->s;
                double v = k == 0   ? sr->effective_rank
                           : k == 1 ? sr->participation_ratio
                           : k == 2 ? sr->stable_rank
                           : k == 3 ? (double)sr->dims_90
                           : k == 4 ? (double)sr->dims_99
                           : k == 5 ? (double)sr->active_units
                           : k == 6 ? (sr->vendi_status == LSC_VENDI_OK ? sr->vendi_cosine : NAN)
                                    : sr->alpha_req;
                char b[32];
                fprintf(f, "<td class=\"n\">%s</td>", g4(b, sizeof b, v));
            }
            fputs("</tr>\n", f);
        }
        fputs("</table></div>\n", f);
    }
    for (int s = 0; s < 2; s++) {
        free(frac[s]);
        free(cum[s]);
        free(xs[s]);
    }
    fputs("</section>\n", f);
}

static void section_neighbours(FILE *f, const cli_html_report *r)
{
    static const char *const key_name[3] = {"real_real", "fake_fake", "fake_real"};
    static const char *const title[3] = {"real rows to their nearest other real row",
                                         "generated rows to their nearest other generated row",
                                         "generated rows to their nearest real row"};
    static const char *const cls[3] = {"real", "fake", "cross"};
    const cli_nn_hist *h = r->nn;
    char key[96], b1[32], b2[32], b3[32];
    fputs("<section id=\"neighbours\">\n<h2>Nearest-neighbour distances</h2>\n", f);
    if (!h || !h->have) {
        fputs("<p>Not computed.</p>\n</section>\n", f);
        return;
    }
    fprintf(
        f,
        "<p class=\"muted\">Distances (%s) in %d equal bins over [0, %s], the last bin also holding every "
        "larger distance (the largest: %s; docs/METRICS.md section 4, Exact k "
        "nearest neighbours). The red dashed line is the memorisation line: %s &times; the median real "
        "nearest-neighbour distance = %s; a generated row nearer than it to a real row counts as a copy "
        "(section 8, memorisation).</p>\n",
        cli_metric_name(r->o->metric), CLI_NN_BINS, g4(b1, sizeof b1, h->upper),
        g4(b3, sizeof b3, h->largest), g4(b2, sizeof b2, h->memorisation_factor),
        g4(key, sizeof key, h->memorisation_line));
    /* stacked on one distance axis, so the three distributions line up */
    fputs("<div class=\"stack\">\n", f);
    for (int s = 0; s < 3; s++) {
        if (!h->rows[s]) continue;
        int64_t cmax = 1;
        for (int j = 0; j < CLI_NN_BINS; j++)
            cmax = h->counts[s][j] > cmax ? h->counts[s][j] : cmax;
        html_plot pl;
        html_plot_init(&pl, 480, 180, 0, h->upper, 0, (double)cmax * 1.05);
        char t[160];
        snprintf(t, sizeof t, "%s", title[s]);
        fputs("<figure>\n", f);
        html_plot_begin(f, &pl, t, "distance", "rows");
        for (int j = 0; j < CLI_NN_BINS; j++) {
            snprintf(key, sizeof key, "nn.%s.%d", key_name[s], j);
            bar(f, &pl, h->upper * j / CLI_NN_BINS, h->upper * (j + 1) / CLI_NN_BINS,
                (double)h->counts[s][j], cls[s], key, (double)h->counts[s][j]);
        }
        if (h->rows[CLI_NN_REAL_REAL]) {
            snprintf(key, sizeof key, "nn.%s.memorisation_line", key_name[s]);
            html_vline(f, &pl, h->memorisation_line, "memline", key, h->memorisation_line,
                       "copy line");
        }
        snprintf(key, sizeof key, "nn.%s.median", key_name[s]);
        html_vline(f, &pl, h->median[s], "guide", key, h->median[s], "");
        /* below the copy line's label, which may sit at the same x */
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"muted\">median</text>\n",
                html_px(&pl, h->median[s]) + 4, pl.t + 28);
        html_plot_end(f);
        fprintf(f, "<figcaption>%lld rows%s; median %s</figcaption>\n</figure>\n",
                (long long)h->rows[s], h->subset[s] ? " (a seeded subset, --pairs-max-rows)" : "",
                g4(b1, sizeof b1, h->median[s]));
    }
    fputs("</div>\n", f);
    if (r->mem_rows >= 0 && r->fake)
        fprintf(f, "<p>Generated rows within dup_eps = %s of a real row: %lld of %lld.</p>\n",
                g4(b1, sizeof b1, r->o->dup_eps), (long long)r->mem_rows, (long long)r->fake->rows);
    fputs("</section>\n", f);
}

/* Precision, recall, density and coverage: the full-size figures as bars; where a verdict judges
 * the figure, its matched-size value, baseline and interval on the same row. */
static void section_prdc(FILE *f, const cli_html_report *r)
{
    if (!r->prdc) return;
    const lsc_prdc_result *p = r->prdc;
    char key[96], b1[32];
    fputs("<section id=\"prdc\">\n<h2>Precision, recall, density, coverage</h2>\n", f);
    fprintf(
        f,
        "<p class=\"muted\">k = %lld, %s comparison, %lld generated against %lld real rows (docs/METRICS.md "
        "section 5). Bars: the full-size figures. Where a verdict judges a figure: its baseline "
        "(black tick) and 99%% interval (grey ticks) at the matched size, and the matched figure (dot). "
        "Coverage's expected value for a generated set from the real distribution at these sizes: the "
        "dashed tick.</p>\n",
        (long long)p->k, p->comparison == LSC_COMPARISON_INCLUSIVE ? "inclusive" : "strict",
        (long long)p->fake_rows, (long long)p->real_rows);
    static const char *const names[4] = {"precision", "recall", "density", "coverage"};
    const double vals[4] = {p->precision, p->recall, p->density, p->coverage};
    double xmax = 1.0;
    for (int i = 0; i < 4; i++) xmax = isfinite(vals[i]) && vals[i] > xmax ? vals[i] : xmax;
    html_plot pl;
    html_plot_init(&pl, 480, 4 * 34 + 50, 0, xmax * 1.05, 0, 0);
    pl.l = 128;
    pl.t = 12;
    html_plot_begin(f, &pl, "", "", "");
    for (int i = 0; i < 4; i++) {
        double ya = pl.t + 6 + 34 * i, yb = ya + 22;
        fprintf(
            f,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s <tspan font-weight=\"600\">%s</tspan></text>\n",
            pl.l - 6, ya + 15, names[i], g4(b1, sizeof b1, vals[i]));
        snprintf(key, sizeof key, "prdc.%s", names[i]);
        hbar(f, &pl, vals[i], ya, yb, "bar-value", key, vals[i]);
        for (int c = 0; r->a && c < LSC_CHECK_COUNT; c++) {
            lsc_verdict v = LSC_VERDICT_INIT;
            if (lsc_assessment_verdict(r->a, (lsc_check)c, &v) != LSC_STATUS_OK || !v.statistic ||
                strcmp(v.statistic, names[i]))
                continue;
            snprintf(key, sizeof key, "prdc.%s.interval_lo", names[i]);
            htick(f, &pl, v.interval_lo, ya - 3, yb + 3, "edge", key, v.interval_lo);
            snprintf(key, sizeof key, "prdc.%s.interval_hi", names[i]);
            htick(f, &pl, v.interval_hi, ya - 3, yb + 3, "edge", key, v.interval_hi);
            snprintf(key, sizeof key, "prdc.%s.baseline", names[i]);
            htick(f, &pl, v.baseline, ya - 4, yb + 4, "base", key, v.baseline);
            if (isfinite(v.matched)) {
                fprintf(f, "<circle class=\"pt-%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\"",
                        html_level_class(lsc_level_name(v.level)), html_px(&pl, v.matched),
                        (ya + yb) / 2);
                snprintf(key, sizeof key, "prdc.%s.matched", names[i]);
                key_attr(f, key);
                value_attr(f, v.matched);
                fputs("/>\n", f);
            }
        }
        if (i == 3 && isfinite(p->coverage_expected))
            htick(f, &pl, p->coverage_expected, ya - 5, yb + 5, "guide", "prdc.coverage_expected",
                  p->coverage_expected);
    }
    html_plot_end(f);
    fputs("</section>\n", f);
}

static int cmp_effect_desc(const void *a, const void *b)
{
    const lsc_class_verdict *x = a, *y = b;
    double ex = isfinite(x->effect) ? x->effect : -INFINITY,
           ey = isfinite(y->effect) ? y->effect : -INFINITY;
    if (ex != ey) return ex < ey ? 1 : -1;
    return x->label < y->label ? -1 : x->label > y->label;
}

enum { HTML_MAX_CLASSES = 60 };

static void section_classes(FILE *f, const cli_html_report *r)
{
    int64_t n = r->a ? lsc_assessment_class_count(r->a) : 0;
    if (n <= 0) return;
    char key[96], b1[32], b2[32], b3[32];
    lsc_class_verdict *cv = calloc((size_t)n, sizeof *cv);
    if (!cv) return;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        lsc_class_verdict c = LSC_CLASS_VERDICT_INIT;
        if (lsc_assessment_class(r->a, i, &c) == LSC_STATUS_OK) cv[m++] = c;
    }
    /* beyond the cap the page keeps the classes that lost the most coverage */
    if (m > HTML_MAX_CLASSES) qsort(cv, (size_t)m, sizeof *cv, cmp_effect_desc);
    int64_t shown = m > HTML_MAX_CLASSES ? HTML_MAX_CLASSES : m;
    fputs("<section id=\"classes\">\n<h2>Classes</h2>\n", f);
    fprintf(
        f,
        "<p class=\"muted\">Each class's coverage at the matched size (bar, coloured by its missing-class "
        "level) against held-out real rows of the same class (black tick: baseline); docs/METRICS.md "
        "section 8, Classes. %s</p>\n",
        m > shown ? "" : "Every class, in label order.");
    if (m > shown)
        fprintf(
            f, "<p>The %lld classes with the largest coverage loss of %lld, most lost first.</p>\n",
            (long long)shown, (long long)m);
    html_plot pl;
    html_plot_init(&pl, 480, (double)shown * 18 + 50, 0, 1, 0, 0);
    pl.l = 78;
    pl.t = 10;
    html_plot_begin(f, &pl, "", "coverage (matched size)", "");
    for (int64_t i = 0; i < shown; i++) {
        const lsc_class_verdict *c = &cv[i];
        double ya = pl.t + 4 + 18 * (double)i, yb = ya + 13;
        const char *lv = lsc_level_name(c->level);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">class %lld</text>\n", pl.l - 6,
                yb - 2, (long long)c->label);
        char cls[32];
        snprintf(cls, sizeof cls, "bar-%s", html_level_class(lv));
        snprintf(key, sizeof key, "class.%lld.matched", (long long)c->label);
        hbar(f, &pl, c->matched, ya, yb, cls, key, c->matched);
        snprintf(key, sizeof key, "class.%lld.baseline", (long long)c->label);
        htick(f, &pl, c->baseline, ya - 2, yb + 2, "base", key, c->baseline);
    }
    html_plot_end(f);
    fputs(
        "<div class=\"scroll\"><table><tr><th>class</th><th>real rows</th><th>coverage (full)</th><th>missing</th>"
        "<th>share</th><th>held-out share</th><th>over-produced</th></tr>\n",
        f);
    for (int64_t i = 0; i < shown; i++) {
        const lsc_class_verdict *c = &cv[i];
        const char *lv = lsc_level_name(c->level), *sl = lsc_level_name(c->share_level);
        fprintf(
            f,
            "<tr><td>%lld</td><td class=\"n\">%lld</td><td class=\"n\">%s</td><td><span class=\"badge %s\">%s</span></td>"
            "<td class=\"n\">%s</td><td class=\"n\">%s</td><td><span class=\"badge %s\">%s</span></td></tr>\n",
            (long long)c->label, (long long)c->real_rows, g4(b1, sizeof b1, c->coverage),
            html_level_class(lv), lv, g4(b2, sizeof b2, c->share),
            g4(b3, sizeof b3, c->share_baseline), html_level_class(sl), sl);
    }
    fputs("</table></div>\n</section>\n", f);
    free(cv);
}

/* Near-duplicate pairs of each set and the uncovered real rows: the first 100 of each list. */
static void section_lists(FILE *f, const cli_html_report *r)
{
    const cli_html_set *sets[2] = {r->real, r->fake};
    char b1[32];
    fputs("<section id=\"rows\">\n<h2>Rows to look at</h2>\n", f);
    for (int s = 0; s < 2; s++) {
        const cli_html_set *x = sets[s];
        if (!x || !x->p) continue;
        const lsc_pair_result *p = x->p;
        int64_t n = p->near_duplicates_listed < 100 ? p->near_duplicates_listed : 100;
        fprintf(f, "<h3>Near-duplicate pairs of the %s set (d &le; %s)</h3>\n", SET_NAME[s],
                g4(b1, sizeof b1, r->o->dup_eps));
        if (!n) {
            fprintf(f, "<p>None among %lld rows%s.</p>\n", (long long)p->rows_used,
                    p->subset ? " (a seeded subset)" : "");
            continue;
        }
        fprintf(
            f,
            "<p class=\"muted\">%lld pairs in all%s; the first %lld, nearest first (rows of the input).</p>\n",
            (long long)p->near_duplicate_pairs, p->subset ? " among a seeded subset" : "",
            (long long)n);
        fprintf(
            f,
            "<div class=\"scroll\"><table id=\"dups-%s\"><tr><th>row i</th><th>row j</th><th>distance</th></tr>\n",
            SET_NAME[s]);
        for (int64_t t = 0; t < n; t++)
            fprintf(
                f,
                "<tr><td class=\"n\">%lld</td><td class=\"n\">%lld</td><td class=\"n\">%.6g</td></tr>\n",
                (long long)x->dups[t].i, (long long)x->dups[t].j, x->dups[t].d);
        fputs("</table></div>\n", f);
    }
    if (r->a) {
        int64_t count = -1, rows[100];
        lsc_assessment_uncovered(r->a, rows, 100, &count);
        fputs("<h3>Uncovered real rows</h3>\n", f);
        if (count < 0) fputs("<p>Not listed.</p>\n", f);
        else if (count == 0) fputs("<p>Every real row is covered by some generated row.</p>\n", f);
        else {
            fprintf(
                f,
                "<p class=\"muted\">%lld real rows no generated row covers; the first %lld, most uncovered first "
                "(distance to the nearest generated row over the row's radius).</p>\n<p class=\"rows\" id=\"uncovered\">",
                (long long)count, (long long)(count < 100 ? count : 100));
            for (int64_t i = 0; i < count && i < 100; i++)
                fprintf(f, "%s%lld", i ? ", " : "", (long long)rows[i]);
            fputs("</p>\n", f);
        }
    }
    fputs("</section>\n", f);
}

static void section_inputs(FILE *f, const cli_html_report *r)
{
    const cli_opts *o = r->o;
    char b1[32];
    fputs(
        "<section id=\"inputs\">\n<h2>Inputs, parameters, definitions, timings</h2>\n<div class=\"grid2\">\n<div>\n",
        f);
    fputs("<h3>Inputs</h3>\n<div class=\"scroll\"><table>\n", f);
    const cli_html_set *sets[2] = {r->real, r->fake};
    for (int s = 0; s < 2; s++) {
        const cli_html_set *x = sets[s];
        if (!x) continue;
        fprintf(f, "<tr><th>%s</th><td><code>", SET_NAME[s]);
        html_text(f, s == 0 && r->reference ? r->reference : x->path);
        fprintf(f, "</code>%s</td><td class=\"n\">%lld &times; %lld</td></tr>\n",
                s == 0 && r->reference ? " (reference)" : "", (long long)x->rows,
                (long long)x->cols);
    }
    if (o->labels) {
        fputs("<tr><th>labels</th><td><code>", f);
        html_text(f, o->labels);
        fputs("</code></td><td></td></tr>\n", f);
    }
    fputs("</table></div>\n<h3>Parameters</h3>\n<div class=\"scroll\"><table>\n", f);
    fprintf(
        f,
        "<tr><th>k</th><td>%lld</td></tr><tr><th>metric</th><td>%s</td></tr><tr><th>comparison</th><td>%s</td></tr>\n",
        (long long)o->k, cli_metric_name(o->metric), o->inclusive ? "inclusive" : "strict");
    fprintf(
        f,
        "<tr><th>dup_eps</th><td>%s</td></tr><tr><th>splits</th><td>%lld</td></tr><tr><th>seed</th><td>%llu</td></tr>\n",
        g4(b1, sizeof b1, o->dup_eps), (long long)o->splits, (unsigned long long)o->seed);
    fprintf(
        f,
        "<tr><th>pairs_max_rows</th><td>%lld</td></tr><tr><th>active_threshold</th><td>%s</td></tr>\n",
        (long long)o->pairs_max_rows, g4(b1, sizeof b1, o->active_threshold));
    fputs("<tr><th>lsc</th><td>", f);
    html_text(f, r->version);
    fputs(" on ", f);
    html_text(f, r->device);
    fputs("</td></tr>\n</table></div>\n</div>\n<div>\n", f);
    fputs(
        "<h3>Definitions</h3>\n<p class=\"muted\">In docs/METRICS.md of lsc:</p>\n<ul>"
        "<li>section 1, Spectrum of one set</li><li>section 3, All-pairs statistics of one set</li>"
        "<li>section 4, Exact k nearest neighbours</li>"
        "<li>section 5, Precision, recall, density, coverage of a generated set against a real set</li>"
        "<li>section 6, Reading the figures</li><li>section 7, Seeded subsets and splits</li>"
        "<li>section 8, Verdicts (lsc_assess)</li></ul>\n",
        f);
    fputs("<h3>Timings</h3>\n<div class=\"scroll\"><table>\n", f);
    for (int i = 0; i < r->ntimings; i++) {
        fputs("<tr><th>", f);
        html_text(f, r->timing_name[i]);
        fprintf(f, "</th><td class=\"n\">%.0f ms</td></tr>\n", r->timing_ms[i]);
    }
    fputs("</table></div>\n</div>\n</div>\n</section>\n", f);
}

int cli_html_write(FILE *f, const cli_html_report *r)
{
    html_begin(f, "lsc report");
    fputs("<header><h1>lsc report</h1>\n<p class=\"muted\">", f);
    if (r->fake) {
        fputs("Generated <code>", f);
        html_text(f, r->fake->path);
        fputs("</code> against real <code>", f);
        html_text(f, r->reference ? r->reference : r->real ? r->real->path : "");
        fputs("</code>", f);
    } else if (r->real) {
        fputs("One set: <code>", f);
        html_text(f, r->real->path);
        fputs("</code>", f);
    }
    fputs("</p></header>\n", f);
    section_verdicts(f, r);
    section_spectra(f, r);
    section_neighbours(f, r);
    section_prdc(f, r);
    section_classes(f, r);
    section_lists(f, r);
    section_inputs(f, r);
    html_end(f);
    return ferror(f) ? -1 : 0;
}
