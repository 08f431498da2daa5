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
