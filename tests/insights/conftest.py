import sys
from pathlib import Path

# The migrated databases (SQLite and PostgreSQL) live with the case-store tests; the KPIs read them.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "case_store"))

from service_fixtures import (  # noqa: F401  (fixtures are found by name)
    database_url,
    postgres_migrated,
    sqlite_template,
    sqlite_url,
)
