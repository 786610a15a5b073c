"""The embedded default: web, worker and cron share one SQLite file without blocking each other."""
from sqlalchemy import text

from referral_app.app import create_app
from referral_app.extensions import db
from tests.conftest import make_config


def test_a_reader_s_open_transaction_does_not_hold_back_a_writer(tmp_path):
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/shared.db",
                                 SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 0.2}}))
    with app.app_context():
        with db.engine.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            conn.execute(text("CREATE TABLE notes (n INTEGER)"))
        reader, writer = db.engine.connect(), db.engine.connect()
        try:
            reader.begin()
            assert reader.execute(text("SELECT count(*) FROM notes")).scalar() == 0
            # In SQLite's default journal this commit waits for the reader, then times out.
            with writer.begin():
                writer.execute(text("INSERT INTO notes VALUES (1)"))
            assert reader.execute(text("SELECT count(*) FROM notes")).scalar() == 0  # snapshot
            reader.rollback()
            assert reader.execute(text("SELECT count(*) FROM notes")).scalar() == 1
        finally:
            reader.close()
            writer.close()
            db.engine.dispose()
