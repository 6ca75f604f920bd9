"""Custom actions (rasa-sdk): forms per request type, submission, status, rating, handoff."""

from bot.privacy import install_log_redaction

install_log_redaction()
