"""One mechanism for user-facing text (STYLE.md item 9).

Bot replies are domain responses with `language` variants; everything else a person reads or
hears goes through the Babel catalogs in bot/locale (bot/i18n.py), whose msgids are the English
source text. These tests keep Arabic prose out of Python code, and keep every msgid the code
asks for present in both catalogs of its domain.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot import labels
from bot.i18n import LOCALE_DIR
from bot.lang import LANGUAGES

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ("actions", "channels", "bot")
# Arabic *letters* (not the Arabic comma, question mark or digits, which punctuation tables and
# digit folding legitimately name).
ARABIC_LETTER = re.compile(r"[\u0621-\u064A\u066E-\u06D3\u06FA-\u06FC]")

# Python files whose string literals may hold Arabic: words the bot *recognises*, never says.
# A path ending in "/" covers a package (twilio_voice becomes one this wave).
RECOGNITION_DATA = {
    "bot/lang.py": "language words people use to name a language",
    "bot/arabic.py": "normalisation and digit-folding tables",
    "bot/pillars.py": "the pillar lexicon",
    "bot/choices.py": "the words people type for a choice (yes, no, skip, types, fields, urgency)",
    "bot/nlu_components.py": "clitics stripped when featurizing",
    "actions/common.py": "the generic-opening words has_content() skips",
    "channels/twilio_sms.py": "SMS keywords (STOP/START/HELP/STATUS in Arabic)",
    "channels/twilio_voice.py": "spoken yes/no, digits and agent words the IVR recognises",
    "channels/twilio_voice/": "spoken yes/no, digits and agent words the IVR recognises",
}

# Functions whose msgid argument is translated: the bot.i18n calls (domain as the first
# argument) and each room's wrapper (domain = its module's DOMAIN).
I18N_CALLS = {"gettext", "pgettext", "ngettext"}
WRAPPERS = {"t", "_t", "_text", "phrase", "N_"}
# Key-style msgids (what channels.po and notify.po used): "empty", "status_changed", "menu.x".
KEY_STYLE = re.compile(r"^[a-z0-9]+(?:[_.][a-z0-9]+)+$")
# English msgstrs that differ from the msgid on purpose.
EN_NOT_IDENTITY = {("console", "Switch language")}  # the link names the other language, in it


def python_files() -> Iterator[Path]:
    """The code people's text can come from; Alembic scripts (run by Alembic, not importable) aside."""
    for d in CODE_DIRS:
        yield from sorted(p for p in (ROOT / d).rglob("*.py") if "migrations" not in p.relative_to(ROOT).parts)


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def allowed(path: str) -> bool:
    return any(path == k or (k.endswith("/") and path.startswith(k)) for k in RECOGNITION_DATA)


def docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def arabic_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        and ARABIC_LETTER.search(node.value)
    ]


def test_no_arabic_text_in_python_code_outside_recognition_data() -> None:
    found = [f"{rel(p)}:{line}: {text[:40]!r}" for p in python_files() if not allowed(rel(p))
             for line, text in arabic_literals(p)]
    assert found == [], "Arabic a person reads belongs in domain.yml or bot/locale:\n" + "\n".join(found)


def test_the_allowlist_names_only_files_that_need_it() -> None:
    # An entry that no longer holds Arabic would silently widen the exemption for later code.
    needed = {rel(p) for p in python_files() if arabic_literals(p)}
    for entry in RECOGNITION_DATA:
        present = (entry.endswith("/") and (ROOT / entry).is_dir()) or (ROOT / entry).is_file()
        if present:
            assert any(n == entry or (entry.endswith("/") and n.startswith(entry)) for n in needed), entry


def test_the_arabic_scan_sees_inline_prose() -> None:
    # The old actions/requests.py line: the scan must flag it (and leave docstrings alone).
    sample = '"""مثال"""\nx = "بدون (سري)" if lang == "ar" else "none (anonymous)"\n'
    tree = ast.parse(sample)
    skip = docstrings(tree)
    flagged = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
               and id(n) not in skip and ARABIC_LETTER.search(n.value)]
    assert flagged == ["بدون (سري)"]


# --- msgids ----------------------------------------------------------------------------------

def catalog(domain: str, language: str) -> Catalog:
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po").open("rb") as f:
        return read_po(f, locale=language, domain=domain)


def domains() -> list[str]:
    return sorted(p.stem for p in (LOCALE_DIR / "en" / "LC_MESSAGES").glob("*.po"))


def module_of(path: Path) -> ModuleType:
    return importlib.import_module(rel(path)[:-3].replace("/", ".").removesuffix(".__init__"))


def resolve(module: ModuleType, func: ast.expr) -> object:
    """The object a call's `f` or `mod.f` names in `module`, or None."""
    if isinstance(func, ast.Name):
        return getattr(module, func.id, None)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        owner = getattr(module, func.value.id, None)
        return getattr(owner, func.attr, None) if isinstance(owner, ModuleType) else None
    return None


def marker_domain(module: ModuleType) -> str | None:
    """An N_-marked msgid belongs to the module's DOMAIN, else to the wrapper it translates with."""
    if isinstance(getattr(module, "DOMAIN", None), str):
        return module.DOMAIN
    for name in WRAPPERS - {"N_"}:
        fn = getattr(module, name, None)
        if callable(fn):
            return getattr(importlib.import_module(fn.__module__), "DOMAIN", None)
    return None


def literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def msgids_used() -> Iterator[tuple[str, str | None, str | None, str]]:
    """(where, domain, msgctxt, msgid) for every literal msgid passed to a translating call."""
    for path in python_files():
        source = path.read_text(encoding="utf-8")
        if not any(f"{n}(" in source for n in (*I18N_CALLS, *WRAPPERS)):
            continue
        module = module_of(path)
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Call):
                continue
            fn = resolve(module, node.func)
            name = getattr(fn, "__name__", "")
            args, where = node.args, f"{rel(path)}:{node.lineno}"
            if getattr(fn, "__module__", "") == "bot.i18n" and name in I18N_CALLS:
                first = args[0]
                domain = literal(first) or (getattr(module, first.id, None) if isinstance(first, ast.Name) else None)
                if name == "pgettext":
                    ctx, msgid = literal(args[2]), literal(args[3])
                    if ctx is not None and msgid is not None:
                        yield where, domain, ctx, msgid
                    continue
                for arg in args[2:4] if name == "ngettext" else args[2:3]:
                    if literal(arg) is not None:
                        yield where, domain, None, literal(arg)  # type: ignore[misc]
            elif name == "N_" and args and literal(args[0]) is not None:
                yield where, marker_domain(module), None, literal(args[0])  # type: ignore[misc]
            elif name in WRAPPERS and callable(fn) and len(args) > 1 and literal(args[1]) is not None:
                domain = getattr(importlib.import_module(fn.__module__), "DOMAIN", None)
                yield where, domain, None, literal(args[1])  # type: ignore[misc]


def test_the_scan_finds_the_channel_and_notifier_msgids() -> None:
    used = {(d, m) for _, d, _, m in msgids_used()}
    assert ("channels", "Reply with the number of your choice.") in used
    assert ("notify", "Bekhedmetkom: your request {reference} is overdue, so we escalated it.") in used
    assert ("labels", "none (anonymous)") in used
    assert ("voice", "Thank you for calling Bekhedmetkom. Goodbye.") in used or not (ROOT / "channels/twilio_voice.py").exists()


def test_every_msgid_used_in_code_is_in_both_catalogs_of_its_domain() -> None:
    missing = []
    for where, domain, ctx, msgid in msgids_used():
        assert domain in domains(), f"{where}: no catalog domain for {msgid!r} (got {domain!r})"
        for language in LANGUAGES:
            message = catalog(domain, language).get(msgid, context=ctx)
            if message is None or not message.string:
                missing.append(f"{where}: {language}/{domain}.po lacks {msgid!r}")
    assert missing == []


@pytest.mark.parametrize("kind", sorted(labels.SOURCE))
def test_every_label_is_in_both_catalogs(kind: str) -> None:
    for key, source in labels.SOURCE[kind].items():
        for language in LANGUAGES:
            message = catalog(labels.DOMAIN, language).get(source, context=kind)
            assert message is not None and message.string, (language, kind, key)


@pytest.mark.parametrize("domain", domains())
def test_catalogs_use_the_english_source_text_as_msgid(domain: str) -> None:
    ar, en = catalog(domain, "ar"), catalog(domain, "en")
    ids = {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in en if m.id}
    assert ids == {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in ar if m.id}, "same msgids in ar and en"
    for m in en:
        if not m.id:
            continue
        msgid = m.id if isinstance(m.id, str) else m.id[0]
        assert not KEY_STYLE.match(msgid), f"{domain}: key-style msgid {msgid!r}"
        if (domain, msgid) not in EN_NOT_IDENTITY:
            assert m.string == m.id or (not isinstance(m.id, str) and tuple(m.string) == tuple(m.id)), (domain, msgid)


def test_wrappers_take_language_then_message() -> None:
    # The scan reads a wrapper's second argument as its msgid.
    from channels import common, notifier

    for fn in (common.t, notifier._text, labels.phrase):
        assert list(inspect.signature(fn).parameters)[:2] == ["language", "message"], fn
