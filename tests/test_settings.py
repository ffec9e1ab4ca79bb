import tomllib
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from pipeline.settings import DEFAULT_CONFIG, ConfigError, Settings, load_settings
from tests import PROJECT_ROOT


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
    files = sorted((PROJECT_ROOT / "config").glob("*.toml"))
    assert {f.name for f in files} >= {"default.toml", "demo-iceland.toml", "test.toml"}
    for f in [DEFAULT_CONFIG, *files]:
        load_settings(f, env={})


def test_default_config_is_package_data():
    """One copy: the package's file (shipped in the wheel); config/default.toml links to it."""
    import pipeline

    assert DEFAULT_CONFIG == Path(pipeline.__file__).parent / "config" / "default.toml"
    assert DEFAULT_CONFIG.is_file() and not DEFAULT_CONFIG.is_symlink()
    assert (PROJECT_ROOT / "config" / "default.toml").resolve() == DEFAULT_CONFIG.resolve()


def test_relative_paths_are_under_root(tmp_path, monkeypatch):
    """[stations] paths, [traveltime] model and [demo] data: under root (IDC_ROOT, default the
    current folder), never under the installed package."""
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={"IDC__TRAVELTIME__MODEL": "m/v.csv", "IDC__DEMO__DATA": "demo"})
    assert s.root == tmp_path and s.station_paths() == [tmp_path / "stations"]
    assert s.model_path() == str(tmp_path / "m" / "v.csv")
    other = tmp_path / "elsewhere"
    s = load_settings(env={"IDC_ROOT": str(other), "IDC__DEMO__DATA": "demo"})
    assert s.root == other and s.station_paths() == [other / "stations"]
    with pytest.raises(ConfigError, match=r"\[demo\] data = 'demo': no folder .*elsewhere/demo/waveforms"):
        s.demo_data()
    with pytest.raises(ConfigError, match=r"\[demo\] data is not set"):
        load_settings(env={}).demo_data()


def test_config_hash_changes_with_config(tmp_path):
    a = load_settings(env={})
    b = load_settings(env={"IDC__DETECTION__PRESET": "local"})
    assert a.config_hash() != b.config_hash()
    assert a.config_hash("dask") == b.config_hash("dask")
    # sections that do not change products do not change the product provenance hash
    c = load_settings(env={"IDC__INGEST__RECORD_LENGTH": "512", "IDC__AIRFLOW__PORT": "9999"})
    assert a.config_hash() == c.config_hash()


# --- config/default.toml documents every key with its default (README, "Configuration") -------
#
# Walked: every field of Settings whose type is a pydantic model (the sections), recursively, by
# TOML key (the alias where one is defined, e.g. association.global_ -> "global"). Not walked:
# the top-level fields `name` and `home` (not sections; default.toml sets them anyway) and
# `sources` (filled in by load_settings with the files read). No section field is derived, and
# the secrets (subscriptions.smtp_password, access.digest.nonce_secret) are listed with their
# empty defaults (default.toml says to give them in the environment), so none is skipped.

#: keys whose value in config/default.toml deliberately differs from the model default, with the
#: reason ("section.key" -> reason). None at present: default.toml only restates the defaults.
DELIBERATE_DIFFERENCES: dict[str, str] = {}


def _model(annotation) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _item_model(annotation) -> type[BaseModel] | None:
    """The model of a ``tuple[Model, ...]`` / ``list[Model]`` field (a TOML array of tables)."""
    if typing.get_origin(annotation) in (tuple, list):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if len(args) == 1:
            return _model(args[0])
    return None


def _missing_keys(model: type[BaseModel], table, path: str) -> list[str]:
    if not isinstance(table, dict):
        return [f"{path} (not a table)"]
    missing = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        dotted = f"{path}.{key}"
        if key not in table:
            missing.append(dotted)
        elif sub := _model(field.annotation):
            missing += _missing_keys(sub, table[key], dotted)
        elif item := _item_model(field.annotation):
            blocks = table[key] if isinstance(table[key], list) else [table[key]]
            for i, block in enumerate(blocks):
                missing += _missing_keys(item, block, f"{dotted}[{i}]")
    return missing


SECTIONS = [name for name, f in Settings.model_fields.items() if _model(f.annotation)]


@pytest.mark.parametrize("section", SECTIONS)
def test_default_toml_lists_every_key(section):
    with open(DEFAULT_CONFIG, "rb") as fh:
        doc = tomllib.load(fh)
    assert section in doc, f"config/default.toml has no [{section}] section"
    model = _model(Settings.model_fields[section].annotation)
    missing = _missing_keys(model, doc[section], section)
    assert not missing, ("config/default.toml does not list (and document) these keys: "
                         + ", ".join(missing))


def _leaf_differences(a, b, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _leaf_differences(a.get(k), b.get(k), f"{path}.{k}")
        return out
    return [] if a == b else [f"{path}: default.toml {a!r} != model default {b!r}"]


@pytest.mark.parametrize("section", SECTIONS)
def test_default_toml_values_equal_model_defaults(section):
    loaded = getattr(load_settings(env={}), section)
    default = getattr(Settings(), section)
    differences = [d for d in _leaf_differences(loaded.model_dump(by_alias=True, mode="json"),
                                                default.model_dump(by_alias=True, mode="json"),
                                                section)
                   if d.split(":")[0] not in DELIBERATE_DIFFERENCES]
    assert not differences, "\n".join(differences)
    if not any(k.startswith(section + ".") for k in DELIBERATE_DIFFERENCES):
        assert loaded == default


def test_default_toml_stage_sections_are_the_stage_defaults():
    from pipeline.association.config import AssociatorConfig
    from pipeline.location.config import LocatorConfig
    from pipeline.magnitude.config import MagnitudeConfig

    s = load_settings(env={})
    assert s.name == "default"
    assert s.association == AssociatorConfig()
    assert s.location == LocatorConfig()
    assert s.magnitude == MagnitudeConfig()
