"""Alembic environment of the channel_state database (see bot/sql.py)."""

from bot.sql import run_environment

run_environment()
