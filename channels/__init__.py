"""Input and output channels (one module per channel), loaded by Rasa through credentials.yml.

Importing this package is the one moment our code runs in every Rasa process before the first
turn, so the log redaction and Rasa's patches are installed here.
"""

from bot import rasa_patches
from bot.privacy import install_log_redaction

install_log_redaction()
rasa_patches.apply()
