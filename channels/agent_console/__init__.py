"""The agent console: a web page for contact-center agents, served inside the Rasa server.

Routes (all under /webhooks/agent_console/):
    GET  /                         the page (?lang=ar|en; Arabic is right-to-left)
    GET  /static/<file>            its CSS and JS (no CDN, no build step)
    POST /api/login                {username, password} -> session cookie + CSRF token
    POST /api/logout               (CSRF)
    GET  /api/session              who is signed in, and the CSRF token for this session
    GET  /api/catalogue/sectors    proxied from the case store
    GET  /api/catalogue/entities   ?sector=&q=&limit= proxied from the case store
    GET  /api/form_token           a token for one "new call" form (the server picks the idempotency key)
    POST /api/requests             (CSRF) file a request for a caller (with its form_token); the caller
                                   gets the reference by SMS
    POST /api/lookup               (CSRF) a request by reference + the caller's proof (phone tail or PIN)
    GET  /api/handoffs             the queue of conversations waiting for a person
    GET  /api/handoffs/<id>        one conversation with its live transcript
    POST /api/handoffs/<id>/take   (CSRF) hold it (one agent at a time)
    POST /api/handoffs/<id>/reply  (CSRF) {text}: sent on Messenger or SMS
    POST /api/handoffs/<id>/resume (CSRF) hand it back to the assistant
    POST /internal/handoff         (bearer AGENT_CONSOLE_INTERNAL_TOKEN) called by action_handoff

Roles, as in the other channel modules: *parse* (forms.py), *send* (sending.py) and *wire*
(channel.py).

The case store is reached only through backend_client.CaseStoreClient (one shared session per
console, closed with the server). Request bodies go through bot.bounded_json and query parameters
are checked strictly, so hostile input gets a 4xx. Idempotency keys of new requests are minted
here (FormTokens), never taken from the client.

The package, one concern a module:
    channel.py        AgentConsoleInput: credentials, route wiring, sessions and CSRF, expiry timer
    config.py         ConsoleConfig from credentials.yml and the environment
    page.py           the HTML page, its static files, the console's gettext domain
    api.py            sign-in, catalogue, "new call" form, lookup routes
    forms.py          request bodies and queries checked; form tokens (idempotency keys)
    handoffs.py       the handoff queue routes: queue, take, reply, hand back
    expiry.py         waiting handoffs that nobody took: expired, handed back, the person told
    hours.py          when agents are on duty (next opening)
    conversations.py  the conversations in Rasa's tracker store
    sending.py        ConsoleSender: SMS through channels/sms_sender, Messenger Send API
    web.py            JSON answers, client address
Accounts, sessions, audit and the queue's storage are channels/agents.py (AgentStore; its parts are
channels/accounts.py, channels/handoff_queue.py and the tables in channels/agent_tables.py).
"""

from channels.agent_console.channel import AgentConsoleInput
from channels.agent_console.config import ConsoleConfig, load_config
from channels.agent_console.conversations import transcript_from_tracker
from channels.agent_console.forms import BadInput, FormTokens, NewRequest, catalogue_query, parse_new_request, request_view
from channels.agent_console.handoffs import parse_transcript
from channels.agent_console.hours import next_opening, next_opening_text
from channels.agent_console.page import render_page, ui_strings
from channels.agent_console.sending import (
    ConsoleSender,
    NoReplyAddress,
    OptedOut,
    OutsideWindow,
    SendError,
    TooLongForSms,
    reply_route,
)
from channels.agent_console.web import client_ip

__all__ = [
    "AgentConsoleInput", "BadInput", "ConsoleConfig", "ConsoleSender", "FormTokens", "NewRequest", "NoReplyAddress",
    "OptedOut", "OutsideWindow", "SendError", "TooLongForSms", "catalogue_query", "client_ip", "load_config", "next_opening",
    "next_opening_text", "parse_new_request", "parse_transcript", "render_page", "reply_route", "request_view",
    "transcript_from_tracker", "ui_strings",
]
