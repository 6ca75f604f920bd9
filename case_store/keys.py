"""Typed keys for what lives on the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from bot.settings import Settings
from case_store.catalogue import Catalogue
from case_store.db import Database
from case_store.service import CaseService

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
CATALOGUE = web.AppKey("catalogue", Catalogue)
SERVICE = web.AppKey("service", CaseService)
