"""Several Rasa processes on one machine behind HAProxy (Debian's package), for `make run` with
RASA_PROCESSES=N and for measuring scale-out on one box (issue 14).

The processes share one tracker store and one Redis lock store (the lock store serialises a
sender's turns whichever process serves them; bot/tracker_store.py's per-process cache checks the
stored rows every turn), so HAProxy needs no stickiness: it sends each request to the process
with the fewest in flight and, by the health check on Rasa's /status (answers 200 only once the
model is loaded), to none that is down or still loading. The Rasa token is not written into the
configuration: HAProxy reads it from its environment ("${RASA_TOKEN}"). No `log` line: HAProxy
would log request lines, and paths carry conversation ids.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

HAPROXY = "haproxy"
# A turn of the IVR must answer inside Twilio's 15 s; a slow turn elsewhere still gets a reply.
SERVER_TIMEOUT_S = 60


class ScaleOutError(SystemExit):
    pass


def check_shared_stores(environ: dict[str, str], processes: int) -> None:
    """More than one Rasa process needs the Redis lock store and a tracker store they share
    (PostgreSQL: SQLite's single writer is not for several servers)."""
    if processes <= 1:
        return
    if not (environ.get("LOCK_STORE_URL") or "").startswith("redis://"):
        raise ScaleOutError(f"RASA_PROCESSES={processes} needs LOCK_STORE_URL=redis://host:port/db (the Redis lock store); "
                            "without it two processes can serve one person's messages at once")
    scheme = urlparse(environ.get("TRACKER_STORE_URL") or "sqlite:///").scheme
    if not scheme.startswith("postgres"):
        raise ScaleOutError(f"RASA_PROCESSES={processes} needs TRACKER_STORE_URL=postgresql://... (a tracker store the "
                            "processes share)")


def haproxy_binary() -> str:
    found = shutil.which(HAPROXY) or shutil.which("/usr/sbin/haproxy")
    if not found:
        raise ScaleOutError("RASA_PROCESSES > 1 needs HAProxy: install Debian's 'haproxy' package (make system-deps)")
    return found


def render(listen_host: str, listen_port: int, backends: list[tuple[str, int]], *, max_conn: int = 2000) -> str:
    """haproxy.cfg for one HTTP front end over the Rasa processes at `backends`."""
    if not backends:
        raise ValueError("no Rasa process to balance")
    servers = "\n".join(f"    server rasa{i + 1} {host}:{port} check inter 2s fall 2 rise 1"
                        for i, (host, port) in enumerate(backends))
    return f"""# Written by bot/balancer.py at each start; edits are lost.
global
    maxconn {max_conn}

defaults
    mode http
    timeout connect 5s
    timeout client {SERVER_TIMEOUT_S}s
    timeout server {SERVER_TIMEOUT_S}s
    timeout http-request 15s
    option http-keep-alive

frontend rasa
    bind {listen_host}:{listen_port}
    default_backend rasa

backend rasa
    balance leastconn
    option httpchk
    http-check send meth GET uri "/status?token=${{RASA_TOKEN}}"
    http-check expect status 200
    # Only a connection that never opened is tried on another process: a POST that may have
    # reached Rasa is never sent twice.
    retry-on conn-failure
    retries 2
    option redispatch
{servers}
"""


def write(path: Path, listen_host: str, listen_port: int, backends: list[tuple[str, int]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(listen_host, listen_port, backends))
    return path


def command(config: Path) -> list[str]:
    """HAProxy in the foreground (-db), so the launcher's supervisor owns it like every process."""
    return [haproxy_binary(), "-db", "-f", str(config)]
