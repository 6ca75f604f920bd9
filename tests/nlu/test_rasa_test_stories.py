"""`rasa test` on the test stories (Arabic, Arabizi and English): Rasa's own evaluation of what the
trained model predicts, from real user text to the next action, for every flow and interruption."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.launcher import MODEL, train_if_needed

ROOT = Path(__file__).resolve().parents[2]
# Rasa's own `rasa test`, with the model loaded as a running Rasa process loads it (without
# Rasa's one-example training step, bot/rasa_patches.py; tests/bot/test_model_load.py proves the
# two loads give the same model): the test judges what production runs, and starts in a third of the time.
RASA_CLI = [sys.executable, "-c",
            "import sys; from bot import rasa_patches; rasa_patches._patch_model_load(); "
            "from rasa.__main__ import main; sys.argv[0] = 'rasa'; main()"]


def test_test_stories_pass_with_the_trained_model(tmp_path: Path) -> None:
    train_if_needed()
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    out = subprocess.run(
        [*RASA_CLI, "test", "core", "--model", str(MODEL), "--stories", "tests/stories/test_stories.yml",
         "--out", str(tmp_path), "--no-plot", "--fail-on-prediction-errors"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    failed = tmp_path / "failed_test_stories.yml"
    details = failed.read_text(encoding="utf-8")[:4000] if failed.exists() else out.stdout[-3000:] + out.stderr[-3000:]
    assert out.returncode == 0, details
    report = json.loads((tmp_path / "story_report.json").read_text())
    assert report["conversation_accuracy"]["accuracy"] == 1.0, details
