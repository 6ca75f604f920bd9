"""`make shell`: chat with the assistant in the terminal, with the real actions and case store.

Type in Arabic, Arabizi or English. Buttons are shown as numbered choices by `rasa shell`.
"""

from __future__ import annotations

import subprocess

from bot import launcher
from bot.settings import VAR, env


def main() -> int:
    launcher.train_if_needed()
    e = launcher.system_env()
    system = launcher.System(
        rasa_port=0,
        action_port=int(env("ACTION_SERVER_PORT", "5055") or 5055),
        case_store_port=int(env("CASE_STORE_PORT", "8800") or 8800),
        env=e,
    )
    try:
        system.start(rasa_processes=0)
        endpoints = launcher.write_endpoints(system.action_port, VAR / "endpoints-shell.yml", e)
        return subprocess.call(
            [launcher.RASA, "shell", "--model", str(launcher.MODEL), "--endpoints", str(endpoints)],
            cwd=launcher.ROOT, env=e,
        )
    except KeyboardInterrupt:
        return 0
    finally:
        system.stop()


if __name__ == "__main__":
    raise SystemExit(main())
