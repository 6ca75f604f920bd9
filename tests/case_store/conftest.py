from service_fixtures import (  # noqa: F401  (fixtures are found by name)
    clock,
    database_url,
    http,
    postgres_migrated,
    sqlite_template,
    sqlite_url,
    store,
)
