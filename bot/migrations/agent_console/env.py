"""Alembic environment of the agent_console database (see bot/sql.py)."""

from bot.sql import run_environment

run_environment()
