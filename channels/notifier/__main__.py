"""`python -m channels.notifier ...`: the command line lives in channels/notifier/cli.py.

Kept apart so that importing the package never imports this module (runpy would then warn
that `channels.notifier.__main__` was imported before it ran). Guarded because tools that
import every module (tests/bot/test_user_text.py's msgid scan) must not run the notifier.
"""

from channels.notifier.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
