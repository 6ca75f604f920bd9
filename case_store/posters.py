"""Printable A4 posters for the service centres (issue 13): `python -m case_store centres posters`.

One self-contained HTML page per centre, Arabic and English, with the three ways to rate the
visit: the Messenger link as a QR code (segno, inline SVG: no image files, prints sharp), the
SMS keyword with the centre's code, and the contact-center number with the code to key in.
Print from a browser, or render with Debian's chromium:
`chromium --headless --screenshot=p.png --window-size=794,1123 file://…/4127.html`.
The words are in the `posters` Babel catalogs (bot/locale/<lang>/LC_MESSAGES/posters.po).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import segno

from bot.i18n import gettext
from case_store.catalogue import Catalogue
from case_store.centres import Centre, Registry

DOMAIN = "posters"
# The contact center's number (DESIGN.md), and the Messenger page the posters link to.
DEFAULT_IVR_NUMBER = "06 5008080"
DEFAULT_PAGE = "bekhedmetkom"
REF_PREFIX = "rate_"  # channels.common.CENTRE_REF_PREFIX: the connector reads what the poster prints


def t(language: str, message: str, **params: object) -> str:
    return gettext(DOMAIN, language, message, **params)


@dataclass(frozen=True)
class PosterSettings:
    page: str = DEFAULT_PAGE  # the Messenger page's username: https://m.me/<page>?ref=rate_<code>
    sms_number: str = ""  # the SMS number shown, as people dial it; empty: the short form only
    ivr_number: str = DEFAULT_IVR_NUMBER


def messenger_link(page: str, code: str) -> str:
    return f"https://m.me/{quote(page, safe='')}?ref={REF_PREFIX}{code}"


def qr_svg(link: str) -> str:
    # Error correction M survives a scuffed counter sticker; the border is the standard 4 modules.
    return str(segno.make_qr(link, error="m").svg_inline(scale=8, border=4, dark="#111", light="#fff"))


_CSS = """
@page { size: A4; margin: 0; }
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; }
body { width: 210mm; height: 297mm; font-family: "Noto Naskh Arabic", "Noto Sans Arabic", "DejaVu Sans", sans-serif;
       color: #111; background: #fff; }
.sheet { width: 210mm; height: 297mm; padding: 12mm 14mm; display: flex; flex-direction: column; }
header { text-align: center; border-bottom: 3px solid #0b6e4f; padding-bottom: 5mm; }
header .brand { font-size: 15pt; color: #0b6e4f; font-weight: bold; }
header h1 { margin: 2mm 0 0; font-size: 30pt; }
header h1 .en { display: block; font-size: 20pt; color: #333; }
.centre { text-align: center; margin: 5mm 0 2mm; font-size: 15pt; }
.centre .en { display: block; font-size: 12pt; color: #333; }
.middle { display: flex; align-items: center; justify-content: center; gap: 12mm; margin: 2mm 0; }
.qr svg { width: 88mm; height: 88mm; }
.code { text-align: center; }
.code .label { font-size: 12pt; }
.code .digits { font-size: 60pt; font-weight: bold; letter-spacing: 4mm; direction: ltr; }
.ways { display: flex; gap: 8mm; margin-top: 4mm; flex: 1; }
.ways section { flex: 1; }
.ways h2 { font-size: 16pt; margin: 0 0 2mm; color: #0b6e4f; }
.ways ol { margin: 0; padding-inline-start: 6mm; font-size: 14pt; line-height: 1.6; }
.ways .keyword { font-weight: bold; direction: ltr; unicode-bidi: isolate; white-space: nowrap; }
footer { font-size: 9pt; color: #555; text-align: center; border-top: 1px solid #bbb; padding-top: 2mm; }
footer .sample { color: #b00020; font-weight: bold; }
"""


def _ways(language: str, centre: Centre, settings: PosterSettings) -> str:
    code = html.escape(centre.code)
    keyword = t(language, "RATE")  # the SMS keyword the connector reads (channels/twilio_sms.py)
    sms_to = t(language, " to {number}", number=settings.sms_number) if settings.sms_number else ""
    items = [
        t(language, "Scan the code with your phone's camera and answer in Messenger."),
        t(language, "Or send an SMS: {keyword}{to}", keyword=f'<span class="keyword">{keyword} {code}</span>',
          to=html.escape(sms_to)),
        t(language, "Or call {number}, choose \u201cRate a centre visit\u201d and key in {code}.",
          number=f'<span class="keyword">{html.escape(settings.ivr_number)}</span>', code=f'<span class="keyword">{code}</span>'),
    ]
    direction = "rtl" if language == "ar" else "ltr"
    lis = "".join(f"<li>{item}</li>" for item in items)
    return (f'<section dir="{direction}" lang="{language}"><h2>{html.escape(t(language, "Three ways, under a minute"))}</h2>'
            f"<ol>{lis}</ol></section>")


def render_poster(centre: Centre, catalogue: Catalogue, settings: PosterSettings) -> str:
    """The poster of one centre as a complete HTML document."""
    entity = catalogue.entity_by_id.get(centre.entity)
    link = messenger_link(settings.page, centre.code)
    sample = ""
    if centre.illustrative:
        sample = (f'<p class="sample">{html.escape(t("ar", "Sample poster: an illustrative centre, not for display."))} · '
                  f'{html.escape(t("en", "Sample poster: an illustrative centre, not for display."))}</p>')
    entity_line = f"{html.escape(entity.name_ar)} · {html.escape(entity.name_en)}" if entity else ""
    return f"""<!DOCTYPE html>
<html lang="ar" dir="rtl">
<head><meta charset="utf-8"><title>{html.escape(centre.name_en)} ({centre.code})</title><style>{_CSS}</style></head>
<body><div class="sheet">
<header><div class="brand">{html.escape(t("ar", "Bekhedmetkom"))} · {html.escape(t("en", "Bekhedmetkom"))}</div>
<h1>{html.escape(t("ar", "Rate your experience"))}<span class="en" lang="en" dir="ltr">{html.escape(t("en", "Rate your experience"))}</span></h1></header>
<div class="centre">{html.escape(centre.name_ar)}<span class="en" lang="en" dir="ltr">{html.escape(centre.name_en)}</span></div>
<div class="middle">
<div class="qr" title="{html.escape(link)}">{qr_svg(link)}</div>
<div class="code"><div class="label">{html.escape(t("ar", "Centre code"))} · <span lang="en">{html.escape(t("en", "Centre code"))}</span></div>
<div class="digits">{html.escape(centre.code)}</div></div>
</div>
<div class="ways">{_ways("ar", centre, settings)}{_ways("en", centre, settings)}</div>
<footer>{sample}<p>{entity_line}</p>
<p dir="rtl">{html.escape(t("ar", "Your rating is anonymous and takes under 30 seconds. One rating per visit a day."))}</p>
<p dir="ltr" lang="en">{html.escape(t("en", "Your rating is anonymous and takes under 30 seconds. One rating per visit a day."))}</p></footer>
</div></body></html>
"""


def write_posters(registry: Registry, catalogue: Catalogue, out_dir: Path, settings: PosterSettings,
                  include_closed: bool = False) -> list[Path]:
    """One `<code>.html` per centre (open ones unless `include_closed`), and an index page."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for centre in registry.centres:
        if not centre.open and not include_closed:
            continue
        path = out_dir / f"{centre.code}.html"
        path.write_text(render_poster(centre, catalogue, settings), encoding="utf-8")
        written.append(path)
    rows = "".join(f'<li><a href="{p.name}">{p.stem}</a></li>' for p in written)
    (out_dir / "index.html").write_text(f'<!DOCTYPE html><meta charset="utf-8"><title>posters</title><ul>{rows}</ul>',
                                        encoding="utf-8")
    return written
