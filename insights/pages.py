"""HTML of the dashboards: the page shell, the figures panel (also sent alone for the live
refresh), the sign-in page, the monthly Cabinet report, and the CSV of a table.

All text goes through the `insights` Babel catalog (bot/locale/*/LC_MESSAGES/insights.po), every
number, share and date through bot/i18n. Arabic pages are right-to-left. Every value is escaped.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from html import escape
from typing import Any

from bot.i18n import N_, format_moment, format_month
from channels.common import PAGE_SECURITY_HEADERS
from insights import charts
from insights.views import PERIODS, Dashboard, Table, fmt, t

TITLES = {
    "ops_room": N_("Operations room"), "minister": N_("Minister's view"), "entity": N_("Entity view"),
    "public": N_("Government responsiveness"),
}
PERIOD_LABELS = {"30d": N_("Last 30 days"), "90d": N_("Last 90 days"), "12m": N_("Last 12 months")}
SECURITY_HEADERS = {**PAGE_SECURITY_HEADERS, "Cache-Control": "no-store"}


def _e(s: Any) -> str:
    return escape(str(s), quote=True)


def _dir(language: str) -> str:
    return "rtl" if language == "ar" else "ltr"


def shell(language: str, title: str, body: str, *, csrf: str = "", refresh_url: str = "", extra_css: str = "",
          refresh_seconds: int = 30) -> str:
    """The page around a body: language and direction, no external resource."""
    meta = f'<meta name="csrf-token" content="{_e(csrf)}">' if csrf else ""
    live = f' data-refresh="{_e(refresh_url)}" data-refresh-ms="{refresh_seconds * 1000}"' if refresh_url else ""
    css = f'<link rel="stylesheet" href="/static/{extra_css}">' if extra_css else ""
    return (
        f'<!doctype html><html lang="{language}" dir="{_dir(language)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{meta}<title>{_e(title)}</title>'
        f'<link rel="stylesheet" href="/static/insights.css">{css}<script src="/static/insights.js" defer></script></head>'
        f'<body{live}>{body}</body></html>'
    )


def _tiles(lang: str, tiles: list[tuple[str, str]]) -> str:
    return '<div class="tiles">' + "".join(
        f'<div class="tile"><div class="value">{_e(v)}</div><div class="label">{_e(t(lang, k))}</div></div>' for k, v in tiles
    ) + "</div>"


def _charts(lang: str, items: list[tuple[str, str]]) -> str:
    return '<div class="charts">' + "".join(
        f'<figure class="card"><figcaption>{_e(t(lang, k))}</figcaption>{svg}</figure>' for k, svg in items
    ) + "</div>"


def table_html(lang: str, table: Table, csv_href: str) -> str:
    rtl = lang == "ar"
    head = "".join(f'<th scope="col" class="{c.kind}">{_e(t(lang, c.title))}</th>' for c in table.columns)
    body = []
    for r in table.rows:
        cells = []
        for c in table.columns:
            v = r.get(c.key)
            if c.kind == "spark":
                cells.append(f'<td class="spark">{charts.sparkline(t(lang, c.title), v or [], rtl=rtl)}</td>')
            else:
                cells.append(f'<td class="{c.kind}">{_e(fmt(v, c.kind, lang))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(table.columns)}" class="empty">{_e(t(lang, "Nothing in this period."))}</td></tr>')
    note = f'<p class="note">{_e(t(lang, table.note, n=fmt(5, "int", lang)))}</p>' if table.note else ""
    return (
        f'<section class="card table" id="t-{_e(table.key)}"><h3>{_e(t(lang, table.title))}'
        f' <a class="csv" href="{_e(csv_href)}" download>{_e(t(lang, "CSV"))}</a></h3>'
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>{note}</section>'
    )


def panel(d: Dashboard, csv_base: str, now: dt.datetime) -> str:
    """The figures: replaced in place by the live refresh."""
    lang = d.language
    qs = f"?period={d.period}&lang={lang}"
    out = [f'<p class="asof" data-testid="asof">{_e(t(lang, "Figures as of {moment}", moment=format_moment(now, lang)))}</p>']
    out += [f'<p class="notice">{_e(n)}</p>' for n in d.notes]
    out.append(f'<h2>{_e(t(lang, "Requests"))}</h2>')
    out.append(_tiles(lang, d.tiles))
    out.append(_charts(lang, d.charts))
    out += [table_html(lang, tb, f"{csv_base}/{tb.key}.csv{qs}") for tb in d.tables]
    if d.conversation_tiles:
        out.append(f'<h2>{_e(t(lang, "Conversations with the assistant"))}</h2>')
        out.append(_tiles(lang, d.conversation_tiles))
        out.append(_charts(lang, d.conversation_charts))
        out += [table_html(lang, tb, f"{csv_base}/{tb.key}.csv{qs}") for tb in d.conversation_tables]
    return "".join(out)


def dashboard_page(d: Dashboard, *, who: str, scope_name: str, csrf: str, base: str, csv_base: str, now: dt.datetime,
                   report_href: str | None, refresh_seconds: int = 30) -> str:
    lang = d.language
    other = "en" if lang == "ar" else "ar"
    title = t(lang, TITLES[d.view]) + (f" — {scope_name}" if scope_name else "")
    periods = "".join(
        f'<a href="{base}?period={p}&lang={lang}"{" aria-current=page" if p == d.period else ""}>{_e(t(lang, PERIOD_LABELS[p]))}</a>'
        for p in PERIODS
    )
    user = (f'<span class="who">{_e(who)}</span><button type="button" id="logout">{_e(t(lang, "Sign out"))}</button>'
            if who else "")
    report = f'<a href="{_e(report_href)}">{_e(t(lang, "Monthly report for the Cabinet"))}</a>' if report_href else ""
    header = (
        f'<header><h1>{_e(title)}</h1><nav class="periods">{periods}</nav><nav class="tools">{report}'
        f'<a href="{base}?period={d.period}&lang={other}" lang="{other}" hreflang="{other}">{_e("English" if other == "en" else "العربية")}</a>'
        f'{user}</nav></header>'
    )
    refresh = f"/api/panel?view={d.view}&period={d.period}&lang={lang}"
    body = f'{header}<main id="figures" aria-live="polite">{panel(d, csv_base, now)}</main>'
    return shell(lang, title, body, csrf=csrf, refresh_url=refresh, refresh_seconds=refresh_seconds)


def login_page(language: str, message: str = "") -> str:
    lang = language
    other = "en" if lang == "ar" else "ar"
    body = (
        f'<header><h1>{_e(t(lang, "Dashboards: sign in"))}</h1><nav class="tools">'
        f'<a href="/login?lang={other}" lang="{other}">{_e("English" if other == "en" else "العربية")}</a>'
        f'<a href="/public?lang={lang}">{_e(t(lang, "Public figures"))}</a></nav></header>'
        f'<main><form id="login" class="card login" data-lang="{lang}">'
        f'<label>{_e(t(lang, "User name"))}<input name="username" autocomplete="username" required maxlength="40"></label>'
        f'<label>{_e(t(lang, "Password"))}<input name="password" type="password" autocomplete="current-password" required maxlength="1024"></label>'
        f'<button type="submit">{_e(t(lang, "Sign in"))}</button>'
        f'<p class="error" id="login-error" role="alert" data-bad="{_e(t(lang, "Wrong user name or password, or not a dashboard account."))}"'
        f' data-limited="{_e(t(lang, "Too many attempts. Try again later."))}">{_e(message)}</p></form></main>'
    )
    return shell(lang, t(lang, "Dashboards: sign in"), body)


def report_page(d: Dashboard, month: dt.date, scope_name: str, now: dt.datetime) -> str:
    """The monthly Cabinet report: the same figures, laid out for paper (insights-print.css)."""
    lang = d.language
    title = t(lang, "Monthly report to the Cabinet: {month}", month=format_month(month, lang))
    parts = [f'<header class="report"><h1>{_e(title)}</h1>',
             f'<p>{_e(scope_name or t(lang, "All government entities"))} · '
             f'{_e(t(lang, "Prepared {moment}", moment=format_moment(now, lang)))}</p>',
             f'<button type="button" id="print" class="noprint">{_e(t(lang, "Print or save as PDF"))}</button></header>',
             '<main class="report">',
             f'<h2>{_e(t(lang, "Requests"))}</h2>', _tiles(lang, d.tiles), _charts(lang, d.charts)]
    parts += [table_html(lang, tb, "#") for tb in d.tables]
    if d.conversation_tiles:
        parts += [f'<h2>{_e(t(lang, "Conversations with the assistant"))}</h2>', _tiles(lang, d.conversation_tiles),
                  _charts(lang, d.conversation_charts)]
        parts += [table_html(lang, tb, "#") for tb in d.conversation_tables]
    parts.append("</main>")
    return shell(lang, title, "".join(parts), extra_css="insights-print.css")


def table_csv(lang: str, table: Table) -> str:
    """Raw values (numbers unformatted, shares 0..1), headers in the reader's language; a
    suppressed cell is empty. Cells that could start a spreadsheet formula are quoted with '."""
    buf = io.StringIO()
    w = csv.writer(buf)
    cols = [c for c in table.columns if c.kind != "spark"]
    w.writerow([t(lang, c.title) for c in cols])
    for r in table.rows:
        row = []
        for c in cols:
            v = r.get(c.key)
            s = "" if v is None else (f"{v:.4f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v))
            row.append("'" + s if s[:1] in ("=", "+", "-", "@") and c.kind == "text" else s)
        w.writerow(row)
    return "\ufeff" + buf.getvalue()  # BOM: spreadsheet programs then read the Arabic as UTF-8
