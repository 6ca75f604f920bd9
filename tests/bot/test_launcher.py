"""The launcher writes the endpoints the *given* environment asks for (the bug this guards
against: reading the parent's environment, so every process silently used SQLite)."""

from __future__ import annotations

from pathlib import Path

from bot import launcher
from bot.launcher import endpoints


def test_defaults_to_sqlite_in_the_var_dir_of_the_given_environment() -> None:
    ep = endpoints(5055, {"BEKH_VAR_DIR": "/srv/bekh/var"})
    assert ep["tracker_store"] == {"type": "bot.tracker_store.ConfidentialSQLTrackerStore", "dialect": "sqlite", "db": "/srv/bekh/var/rasa_tracker.db"}
    assert ep["action_endpoint"] == {"url": "http://127.0.0.1:5055/webhook"}
    assert "lock_store" not in ep


def test_postgresql_tracker_and_redis_lock_store_from_urls() -> None:
    ep = endpoints(5055, {"TRACKER_STORE_URL": "postgresql://rasa:s3cret@db.internal:6543/tracker",
                          "LOCK_STORE_URL": "redis://:pw@redis.internal:6380/2", "LOCK_STORE_PREFIX": "bekh1"})
    assert ep["tracker_store"] == {"type": "bot.tracker_store.ConfidentialSQLTrackerStore", "dialect": "postgresql", "url": "db.internal", "port": 6543,
                                   "db": "tracker", "username": "rasa", "password": "s3cret"}
    assert ep["lock_store"] == {"type": "bot.lock_store.AtomicRedisLockStore", "url": "redis.internal", "port": 6380, "db": 2,
                                "key_prefix": "bekh1", "password": "pw"}


def test_event_broker_sql_by_default_pika_for_amqp_and_off_on_request() -> None:
    ep = endpoints(5055, {"BEKH_VAR_DIR": "/srv/bekh/var"})
    assert ep["event_broker"] == {"type": "sql", "dialect": "sqlite", "db": "/srv/bekh/var/rasa_events.db"}
    ep = endpoints(5055, {"EVENT_BROKER_URL": "amqp://bekh:pw@mq.internal:5673/", "EVENT_BROKER_QUEUE": "q1"})
    assert ep["event_broker"] == {"type": "pika", "url": "mq.internal", "port": 5673, "username": "bekh", "password": "pw", "queues": ["q1"]}
    ep = endpoints(5055, {"EVENT_BROKER_URL": "postgresql://rasa@db:5432/events"})
    assert ep["event_broker"] == {"type": "sql", "dialect": "postgresql", "url": "db", "port": 5432, "db": "events", "username": "rasa"}
    assert "event_broker" not in endpoints(5055, {"EVENT_BROKER_URL": "none"})


def test_server_ports_are_free_distinct_and_outside_the_range_outgoing_connections_use() -> None:
    """A port handed to a server before it binds must not be one that a client connection (a
    health check, a database driver) can take meanwhile as its local end."""
    import socket

    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = [launcher.free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    for port in ports:
        assert not low <= port <= high
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
