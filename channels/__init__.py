"""Input and output channels (one module per channel), loaded by Rasa through credentials.yml.

Importing this package is the one moment our code runs in every Rasa process before the first
turn, so the log redaction and Rasa's patches are installed here. The patches only where Rasa's
core is already loaded (`rasa run` imports it before the connectors): the notifier and the
command-line tools use the channels' senders without Rasa's core and TensorFlow (about 600 MB of
memory the notifier never needs).
"""

import sys

from bot.privacy import install_log_redaction

install_log_redaction()
if "rasa.core.actions.action" in sys.modules:
    from bot import rasa_patches

    rasa_patches.apply()
