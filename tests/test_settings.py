from pathlib import Path

import pytest

from pipeline.settings import DEFAULT_CONFIG, ConfigError, load_settings


def test_defaults_are_typed_and_frozen(tmp_path):
    s = load_settings(env={"IDC_HOME": str(tmp_path)})
    assert s.home == tmp_path
    assert s.database_url == f"sqlite:///{tmp_path}/idc.sqlite"
    assert s.ingest.record_length == 4096 and s.ingest.on_conflict == "quarantine"
    assert s.archive_dir == tmp_path / "archive" and s.quarantine_dir == tmp_path / "quarantine"
    with pytest.raises(Exception):
        s.ingest.record_length = 512  # frozen


def test_home_defaults_to_var_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).home == tmp_path / "var"


def test_selected_file_merges_over_default_and_env_wins(tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text('name = "site"\n[ingest]\nrecord_length = 512\n')
    s = load_settings(cfg, env={"IDC_DATABASE_URL": "postgresql+psycopg://u@h/db",
                                "IDC__INGEST__ON_CONFLICT": "replace", "IDC_HOME": str(tmp_path)})
    assert s.name == "site" and s.ingest.record_length == 512
    assert s.ingest.integer_encoding == "STEIM2"  # from default.toml
    assert s.ingest.on_conflict == "replace"
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert s.sources == (str(DEFAULT_CONFIG), str(cfg))


def test_idc_config_env_selects_file(tmp_path):
    cfg = tmp_path / "x.toml"
    cfg.write_text('name = "from-env"\n')
    assert load_settings(env={"IDC_CONFIG": str(cfg)}).name == "from-env"


def test_bad_value_names_key_and_file(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[ingest]\nrecord_length = 1000\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={})
    msg = str(e.value)
    assert str(cfg) in msg and "ingest.record_length" in msg


def test_unknown_key_is_reported(tmp_path):
    cfg = tmp_path / "typo.toml"
    cfg.write_text("[ingest]\nrecord_lenght = 512\n")
    with pytest.raises(ConfigError, match=r"typo.toml: ingest.record_lenght: unknown key"):
        load_settings(cfg, env={})


def test_bad_env_value_names_the_variable():
    with pytest.raises(ConfigError, match="environment variable IDC__DASK__THREADS"):
        load_settings(env={"IDC__DASK__THREADS": "0"})


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[ingest\n")
    with pytest.raises(ConfigError, match="broken.toml: not valid TOML"):
        load_settings(broken, env={})


def test_shipped_configs_validate():
    for f in sorted(Path(DEFAULT_CONFIG).parent.glob("*.toml")):
        load_settings(f, env={})


def test_config_hash_changes_with_config(tmp_path):
    a = load_settings(env={})
    b = load_settings(env={"IDC__DETECTION__PRESET": "local"})
    assert a.config_hash() != b.config_hash()
    assert a.config_hash("dask") == b.config_hash("dask")
    # sections that do not change products do not change the product provenance hash
    c = load_settings(env={"IDC__INGEST__RECORD_LENGTH": "512", "IDC__AIRFLOW__PORT": "9999"})
    assert a.config_hash() == c.config_hash()
