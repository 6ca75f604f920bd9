"""Typed keys for what lives on the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from bot.settings import Settings
from case_store.campaigns import Campaigns
from case_store.catalogue import Catalogue
from case_store.centre_ratings import CentreRatings
from case_store.centres import Registry
from case_store.db import Database
from case_store.service import CaseService

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
CATALOGUE = web.AppKey("catalogue", Catalogue)
SERVICE = web.AppKey("service", CaseService)
CENTRES = web.AppKey("centres", Registry)
CAMPAIGNS = web.AppKey("campaigns", Campaigns)
CENTRE_RATINGS = web.AppKey("centre_ratings", CentreRatings)
