import sys
from pathlib import Path

# The service fixtures live with the case-store tests; the client tests run the same service.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "case_store"))

from service_fixtures import (  # noqa: F401  (fixtures are found by name)
    clock,
    database_url,
    http,
    postgres_migrated,
    sqlite_template,
    sqlite_url,
    store,
)
