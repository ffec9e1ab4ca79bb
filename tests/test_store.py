"""The store: migrations, schema parity with the models, product versioning (SQLite + PostgreSQL)."""
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from pipeline.store import db
from pipeline.store.models import Base, Origin, Product
from pipeline.store.products import ProductKey, versions, write_product
from sqlalchemy import func, select

EXPECTED = {"site", "sitechan", "wfavail", "ingested_file", "ingest_error", "product", "event", "origin",
            "origerr", "arrival", "assoc", "netmag", "stamag"}


def test_upgrade_creates_schema_matching_models(settings):
    rev = db.upgrade(settings.database_url)
    assert rev == db.head_revision()
    assert EXPECTED <= set(db.table_names(settings.database_url))
    with db.get_engine(settings.database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    # idempotent
    assert db.upgrade(settings.database_url) == rev


def _fill(n):
    def fill(session, product):
        for i in range(n):
            session.add(Origin(product_id=product.id, lat=64.0 + i, lon=-17.0, depth=5.0, time=1e9 + i))
        return {"origins": n}
    return fill


def test_rerun_replaces_and_changed_inputs_make_new_version(settings):
    db.upgrade(settings.database_url)
    key = ProductKey("SEL1", 1408838400.0, 1408839600.0)
    with db.session_scope(settings.database_url) as s:
        p1, new = write_product(s, key, input_fingerprint="a", config_hash="c", software_version="0.1",
                                fill=_fill(3))
        assert new and p1.version == 1
    with db.session_scope(settings.database_url) as s:  # same inputs: replaced in place
        p, new = write_product(s, key, input_fingerprint="a", config_hash="c", software_version="0.1",
                               fill=_fill(2))
        assert not new and p.version == 1 and p.runs == 2
    with db.session_scope(settings.database_url) as s:
        assert s.scalar(select(func.count()).select_from(Origin)) == 2
        assert s.scalar(select(func.count()).select_from(Product)) == 1
    with db.session_scope(settings.database_url) as s:  # late data: new version, v1 kept
        p, new = write_product(s, key, input_fingerprint="b", config_hash="c", software_version="0.1",
                               fill=_fill(4))
        assert new and p.version == 2
    with db.session_scope(settings.database_url) as s:
        vs = versions(s, key)
        assert [v.version for v in vs] == [1, 2]
        counts = {v.version: s.scalar(select(func.count()).select_from(Origin).where(Origin.product_id == v.id))
                  for v in vs}
        assert counts == {1: 2, 2: 4}
        assert vs[1].summary == {"origins": 4}


def test_product_key_validation():
    import pytest

    with pytest.raises(ValueError, match="product type"):
        ProductKey("SEL9", 0, 1)
    with pytest.raises(ValueError, match="must be after"):
        ProductKey("REB", 5, 1)
