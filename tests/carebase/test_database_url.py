"""DATABASE_URL → Django's DATABASES['default'] (dj-database-url), with the options every connection keeps."""

from __future__ import annotations

import pytest

from carebase.embedded_db import database_from_url


def test_it_decodes_a_percent_encoded_password_and_keeps_ssl_options():
    config = database_from_url("postgres://care%20base:p%40ss%2Fw%3Ard%23@db.example.org:6543/carebase?sslmode=require")
    assert (config["USER"], config["PASSWORD"], config["HOST"], int(config["PORT"]), config["NAME"]) == (
        "care base",
        "p@ss/w:rd#",
        "db.example.org",
        6543,
        "carebase",
    )
    assert config["OPTIONS"] == {"sslmode": "require", "server_side_binding": True}
    assert config["ENGINE"] == "django.db.backends.postgresql"


def test_it_keeps_connections_and_checks_them_before_use():
    config = database_from_url("postgresql://u:p@localhost/x")
    assert (config["CONN_MAX_AGE"], config["CONN_HEALTH_CHECKS"]) == (60, True)
    assert config["OPTIONS"] == {"server_side_binding": True}


def test_it_takes_a_socket_directory_from_host_as_the_embedded_server_writes_it():
    config = database_from_url("postgresql://postgres:@/postgres?host=/tmp/pgserver-abc")
    assert (config["HOST"], config["NAME"], config["USER"], config["PASSWORD"]) == (
        "/tmp/pgserver-abc",
        "postgres",
        "postgres",
        "",
    )
    assert "host" not in config["OPTIONS"]


def test_it_names_the_database_and_user_postgres_when_the_url_does_not():
    config = database_from_url("postgresql://db.example.org")
    assert (config["NAME"], config["USER"], config["HOST"]) == ("postgres", "postgres", "db.example.org")


@pytest.mark.parametrize("url", ["mysql://u:p@localhost/x", "sqlite:///tmp/db.sqlite3"])
def test_it_refuses_any_other_database(url):
    with pytest.raises(ValueError, match="must start with postgres:// or postgresql://"):
        database_from_url(url)


def settings_database(**env: str) -> dict:
    """DATABASES['default'] as carebase.settings builds it from this environment (a fresh process)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = "import json; from carebase import settings; print(json.dumps(settings.DATABASES['default'], default=str))"
    environment = {**os.environ, "DEBUG": "true", "DATABASE_URL": "postgresql://care:pw@db.example.org:5432/carebase", **env}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], env=environment, cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_it_keeps_health_checked_connections_with_a_connect_timeout_by_default():
    config = settings_database()
    assert (config["CONN_MAX_AGE"], config["CONN_HEALTH_CHECKS"]) == (60, True)
    assert config["OPTIONS"] == {"server_side_binding": True, "connect_timeout": 5}
    assert not config.get("DISABLE_SERVER_SIDE_CURSORS")


def test_it_gives_each_process_a_psycopg_pool_of_database_pool_size():
    config = settings_database(DATABASE_POOL_SIZE="8", DATABASE_CONNECT_TIMEOUT="3")
    assert config["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 8, "timeout": 10}
    assert config["OPTIONS"]["connect_timeout"] == 3
    assert config["CONN_MAX_AGE"] == 0  # Django refuses persistent connections beside a pool
    assert config["CONN_HEALTH_CHECKS"] is True  # each connection the pool hands out is checked first


def test_it_speaks_transaction_pooling_behind_pgbouncer():
    config = settings_database(DATABASE_PGBOUNCER="true")
    assert config["DISABLE_SERVER_SIDE_CURSORS"] is True and config["CONN_MAX_AGE"] == 0
    assert config["OPTIONS"]["prepare_threshold"] is None and config["OPTIONS"]["server_side_binding"] is False
    assert "pool" not in config["OPTIONS"]


def test_it_refuses_a_pool_behind_pgbouncer_and_a_negative_pool():
    from django.core.exceptions import ImproperlyConfigured

    from carebase.embedded_db import database_connections

    config = database_from_url("postgresql://u:p@localhost/x")
    with pytest.raises(ImproperlyConfigured, match="choose one"):
        database_connections(config, pool_size=4, pgbouncer=True)
    with pytest.raises(ImproperlyConfigured, match="DATABASE_POOL_SIZE=-1"):
        database_connections(config, pool_size=-1)
