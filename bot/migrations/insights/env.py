"""Alembic environment of the insights analytics database (see bot/sql.py)."""

from bot.sql import run_environment

run_environment()
