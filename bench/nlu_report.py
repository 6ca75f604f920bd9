"""NLU figures on the held-out sets (never trained on), and single-user turn latency.

    python bench/nlu_report.py [--no-latency] [--turns 40] [--heldout FILE ...] [--misses N]

For tests/nlu/heldout.yml (the development set), tests/nlu/heldout_blind2.yml (the blind set)
and both together: intent F1 per intent and per variety (msa, dialect, arabizi, en), macro-F1,
reference extraction accuracy; then language detection accuracy (tests/nlu/language_*.yml) and
the p50/p95 of a whole turn through the running system (REST channel, one user). Misclassified
texts are printed for the development set only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from bot import refcode
from bot.launcher import MODEL, train_if_needed
from tests.bot.test_lang import lang_sample_correct

HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
HELDOUT_BLIND2 = ROOT / "tests" / "nlu" / "heldout_blind2.yml"
LANG_HELDOUT = ROOT / "tests" / "nlu" / "language_heldout.yml"
LANG_BLIND = ROOT / "tests" / "nlu" / "language_blind.yml"


def load_heldout(path: Path = HELDOUT) -> list[tuple[str, str, str, list[str]]]:
    """(text, intent, variety, [reference digits]) for every held-out example."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for item in data["nlu"]:
        variety = (item.get("metadata") or {}).get("variety", "?")
        for text, refs in load_data_from_block(item):
            out.append((text, item["intent"], variety, refs))
    return out


def load_data_from_block(item: dict) -> list[tuple[str, list[str]]]:
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    reader = RasaYAMLReader()
    td = reader.reads(yaml.safe_dump({"version": "3.1", "nlu": [{"intent": item["intent"], "examples": item["examples"]}]}, allow_unicode=True))
    rows = []
    for m in td.intent_examples:
        refs = [refcode.canonical_digits(str(e["value"])) for e in m.get("entities", []) if e["entity"] == "reference"]
        rows.append((m.get("text"), refs))
    return rows


def f1_table(rows: list[tuple[str, str, str]]) -> tuple[dict[str, float], float]:
    """rows: (gold, predicted, variety) -> per-intent F1 and macro-F1."""
    intents = sorted({g for g, _, _ in rows})
    per = {}
    for intent in intents:
        tp = sum(1 for g, p, _ in rows if g == intent and p == intent)
        fp = sum(1 for g, p, _ in rows if g != intent and p == intent)
        fn = sum(1 for g, p, _ in rows if g == intent and p != intent)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        per[intent] = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return per, statistics.mean(per.values()) if per else 0.0


async def parse_sets(text_sets: list[list[str]]) -> list[list[dict]]:
    """Parse every set with one loaded model."""
    import logging

    from rasa.core.agent import load_agent
    from rasa.utils.log_utils import configure_structlog

    # unconfigured, Rasa's structlog prints every parse at debug level, message text included:
    # that would show the blind set's texts to whoever runs the bench
    configure_structlog(logging.WARNING)
    agent = await load_agent(model_path=str(MODEL))
    out = []
    for texts in text_sets:
        out.append([await agent.parse_message(t) for t in texts])
    return out


def training_texts() -> set[str]:
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.arabic import normalise

    out: set[str] = set()
    for f in sorted((ROOT / "nlu_data").glob("nlu_*.yml")):
        out |= {normalise(m.get("text")) for m in load_data(str(f)).intent_examples}
    return out


def nlu_figures(paths: list[Path], misses: int = 15, blind_misses: int = 0) -> dict[str, float]:
    from bot.arabic import normalise

    seen = training_texts()
    loaded = [load_heldout(path) for path in paths]
    scored = [[r for r in all_rows if normalise(r[0]) not in seen] for all_rows in loaded]
    parsed = asyncio.run(parse_sets([[r[0] for r in rows] for rows in scored]))
    figures: dict[str, float] = {}
    for path, all_rows, rows, parses in zip(paths, loaded, scored, parsed):
        print(f"\n== {path.name}: {len(all_rows)} held-out examples; scored after dropping {len(all_rows) - len(rows)} that also occur in training")
        # the blind set's texts stay unread: looking at its misses would turn it into a development set
        show = misses if path.resolve() == HELDOUT else blind_misses
        figures |= {f"{path.stem}:{k}": v for k, v in intent_figures(rows, parses, show).items()}
    if len(paths) > 1:
        print(f"\n== all held-out sets together ({sum(map(len, scored))} scored)")
        figures |= intent_figures([r for rows in scored for r in rows], [q for qs in parsed for q in qs], 0)
    figures |= language_figures()
    return figures


def intent_figures(rows: list[tuple[str, str, str, list[str]]], parsed: list[dict], show_misses: int) -> dict[str, float]:
    table = [(gold, p["intent"]["name"], variety) for (text, gold, variety, _), p in zip(rows, parsed)]
    per, macro = f1_table(table)
    print(f"{'intent':20} F1")
    for intent, f in sorted(per.items()):
        print(f"  {intent:20} {f:.3f}")
    print(f"intent macro-F1 (all): {macro:.3f}")
    figures: dict[str, float] = {"macro_f1": macro}
    for variety in ("msa", "dialect", "arabizi", "en"):
        sub = [r for r in table if r[2] == variety]
        _, m = f1_table(sub)
        acc = sum(1 for g, p, _ in sub if g == p) / len(sub) if sub else 0
        print(f"  variety {variety:8} macro-F1 {m:.3f}  accuracy {acc:.3f}  (n={len(sub)})")
        figures[f"f1_{variety}"] = m
    wrong = [(text, gold, p["intent"]["name"]) for (text, gold, _, _), p in zip(rows, parsed) if p["intent"]["name"] != gold]
    print(f"misclassified: {len(wrong)}" + (f" (first {show_misses})" if show_misses else ""))
    for text, gold, pred in wrong[:show_misses]:
        print(f"  [{gold} -> {pred}] {text[:70]}")
    # reference extraction: every held-out reference must come out exactly, digits canonical
    want = [(refs, p) for (_, _, _, refs), p in zip(rows, parsed) if refs]
    ok = sum(1 for refs, p in want if sorted(refs) == sorted(e["value"] for e in p["entities"] if e["entity"] == "reference"))
    print(f"reference extraction: {ok}/{len(want)} = {ok / max(1, len(want)):.3f}")
    figures["reference"] = ok / max(1, len(want))
    return figures


def language_figures() -> dict[str, float]:
    figures: dict[str, float] = {}
    # language: as the dialogue applies it (ambiguous text keeps the current language)
    for path in (LANG_HELDOUT, LANG_BLIND):
        samples = yaml.safe_load(path.read_text(encoding="utf-8"))["samples"]
        misses = [s for s in samples if not lang_sample_correct(s)]
        correct = len(samples) - len(misses)
        print(f"language detection ({path.name}): {correct}/{len(samples)} = {correct / len(samples):.3f}")
        for s in misses[:10]:
            print(f"  miss: {s['text']!r} expected {s['expected']}")
        figures[f"language:{path.stem}"] = correct / len(samples)
    return figures


def latency(turns: int) -> None:
    from tests.e2e.harness import TIMED, rest_turn, start_system

    running = start_system(TIMED)
    try:
        script = ["مرحبا", "بدي اقدم شكوى على الترخيص", "الموظف صرخ علي وما خلص معاملتي", "0791234567", "hello", "I want to check my request", "4829103751"]
        times = []
        for i in range(turns):
            t0 = time.perf_counter()
            rest_turn(running, f"bench-user-{i // len(script)}", script[i % len(script)])
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        p50 = statistics.median(times)
        p95 = times[max(0, int(len(times) * 0.95) - 1)]
        print(f"single-user turn latency over {turns} turns (REST channel, whole system): p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    finally:
        running.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--turns", type=int, default=42)
    parser.add_argument("--heldout", type=Path, action="append", help="held-out file(s); default: both held-out sets")
    parser.add_argument("--misses", type=int, default=15, help="misclassified examples of heldout.yml to print")
    parser.add_argument("--blind-misses", type=int, default=0,
                        help="misclassified examples of the blind set to print (default none: reading them un-blinds it)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}")
    train_if_needed()
    nlu_figures(args.heldout or [HELDOUT, HELDOUT_BLIND2], args.misses, args.blind_misses)
    if not args.no_latency:
        latency(args.turns)


if __name__ == "__main__":
    main()
