"""The mirror's database: an engine for a URL (SQLite by default, PostgreSQL by URL), and
its schema brought to the newest Alembic revision at start.

    engine = open_engine("sqlite:////var/lib/portal/mirror.sqlite")
    migrate(engine)                         # alembic upgrade head, in-process
    Session = sessionmaker(engine)

PostgreSQL: ``postgresql+psycopg://user@127.0.0.1:5432/mirror`` (psycopg 3).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseError(Exception):
    """The mirror's database URL cannot be used."""


def sqlite_url(path: Path | str) -> str:
    return f"sqlite:///{Path(path).absolute()}"


def open_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL (readers never wait for the listener) and
    a busy timeout, PostgreSQL a pre-ping so a restarted server is survived."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise DatabaseError(f"mirror database URL {url!r} is not a SQLAlchemy URL: {exc}") \
            from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo,
                               connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", ""):
            raise DatabaseError(f"{url}: use the psycopg (3) driver: postgresql+psycopg://")
        if parsed.get_driver_name() == "":
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(
                hide_password=False)
        return create_engine(url, echo=echo, pool_pre_ping=True)
    raise DatabaseError(f"{url}: the mirror runs on SQLite or PostgreSQL")


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url",
                            engine.url.render_as_string(hide_password=False).replace("%",
                                                                                     "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
