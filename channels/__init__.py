"""Input and output channels (one module per channel), loaded by Rasa through credentials.yml."""

from bot.privacy import install_log_redaction

install_log_redaction()
