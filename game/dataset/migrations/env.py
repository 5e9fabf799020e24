"""Alembic's environment for the contributions database (no alembic.ini).

`game.dataset.store.upgrade(engine)` runs it with an open connection in
`config.attributes["connection"]`; the models' metadata is the autogenerate target:

    from alembic import command
    from game.dataset.store import alembic_config
    config = alembic_config(); config.set_main_option("sqlalchemy.url", URL)
    command.revision(config, "what changed", autogenerate=True)
"""
from alembic import context
from sqlalchemy import create_engine

from game.dataset.store import Base, normalize_url

config = context.config
target_metadata = Base.metadata


def run(connection) -> None:
    # render_as_batch: SQLite can alter a table only by copying it; batch mode does that.
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    with create_engine(normalize_url(config.get_main_option("sqlalchemy.url"))).begin() as conn:
        run(conn)
