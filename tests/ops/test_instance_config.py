"""The Dagster instance's ``dagster.yaml`` (``Settings.export_dagster_home``): the project's one-writer pool
limit and batched event log are always there, and whatever an operator adds to the file is kept."""

import os
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from pipelines.orchestration.event_log import BatchedSqliteEventLogStorage
from pipelines.settings import Settings, SettingsError
from pipelines.user_errors import EXIT_USAGE, describe, exit_code


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [n for n in os.environ if n.startswith(("KPI_", "DAGSTER_"))]:
        monkeypatch.delenv(name)
    # export_dagster_home sets DAGSTER_HOME and the storage sets DAGSTER_EVENT_BATCH_SIZE: undo both after
    for name in ("DAGSTER_HOME", "DAGSTER_EVENT_BATCH_SIZE"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return monkeypatch


def _instance(data_dir: Path) -> tuple[dg.DagsterInstance, Path]:
    home = Settings(data_dir=data_dir).export_dagster_home()
    return dg.DagsterInstance.get(), home / "dagster.yaml"


def test_a_new_instance_gets_the_pool_limit_and_the_batched_event_log(tmp_path: Path, clean_env) -> None:
    instance, config = _instance(tmp_path / "data")
    assert isinstance(instance.event_log_storage, BatchedSqliteEventLogStorage)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert settings["concurrency"]["pools"]["default_limit"] == 1
    assert settings["event_log_storage"]["config"]["base_dir"] == str(tmp_path / "data" / "dagster_home"
                                                                      / "history" / "runs")


def test_what_an_operator_adds_is_kept_and_the_pool_limit_is_restored(tmp_path: Path, clean_env) -> None:
    _, config = _instance(tmp_path / "data")
    edited = config.read_text(encoding="utf-8").replace("enabled: false", "enabled: true") + (
        "# kept: our retention policy\n"
        "retention:\n  schedule:\n    purge_after_days: 30\n")
    config.write_text(edited, encoding="utf-8")
    instance, _ = _instance(tmp_path / "data")
    assert config.read_text(encoding="utf-8") == edited  # nothing of ours missing: not rewritten, comments kept
    assert instance.get_settings("telemetry")["enabled"] is True
    assert instance.get_settings("retention")["schedule"]["purge_after_days"] == 30

    # a pool limit above 1 would let two runs write the warehouse at once: set back, the rest stays
    config.write_text(edited.replace("default_limit: 1", "default_limit: 4"), encoding="utf-8")
    instance, _ = _instance(tmp_path / "data")
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert settings["concurrency"]["pools"]["default_limit"] == 1
    assert settings["retention"] == {"schedule": {"purge_after_days": 30}}
    assert settings["telemetry"] == {"enabled": True}
    assert isinstance(instance.event_log_storage, BatchedSqliteEventLogStorage)


def test_an_operators_own_storage_replaces_the_batched_event_log(tmp_path: Path, clean_env) -> None:
    """A whole ``storage`` (e.g. PostgreSQL for a shared instance; SQLite elsewhere here) is the operator's
    choice: the project adds no ``event_log_storage`` next to it (Dagster refuses both)."""
    home = tmp_path / "data" / "dagster_home"
    home.mkdir(parents=True)
    elsewhere = tmp_path / "shared-dagster"
    (home / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {elsewhere}\n", encoding="utf-8")
    instance, config = _instance(tmp_path / "data")
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert "event_log_storage" not in settings and settings["storage"] == {"sqlite": {"base_dir": str(elsewhere)}}
    assert settings["concurrency"]["pools"]["default_limit"] == 1
    assert type(instance.event_log_storage) is SqliteEventLogStorage
    assert str(elsewhere) in str(instance.event_log_storage._base_dir)


def test_the_event_log_follows_a_moved_data_folder(tmp_path: Path, clean_env) -> None:
    _, config = _instance(tmp_path / "old")
    moved = tmp_path / "new"
    (tmp_path / "old").rename(moved)
    _, config = _instance(moved)
    base_dir = yaml.safe_load(config.read_text(encoding="utf-8"))["event_log_storage"]["config"]["base_dir"]
    assert base_dir == str(moved / "dagster_home" / "history" / "runs")


def test_a_broken_file_is_named(tmp_path: Path, clean_env) -> None:
    home = tmp_path / "data" / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("concurrency: [unclosed\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"dagster\.yaml: not valid YAML") as raised:
        Settings(data_dir=tmp_path / "data").export_dagster_home()
    line = describe(raised.value, tmp_path / "data")  # what the kpi CLI prints, with exit code 2
    assert line is not None and line.startswith(f"configuration: {home / 'dagster.yaml'}: not valid YAML"), line
    assert "\n" not in line and "line 1" in line  # one line, with where YAML stopped
    assert exit_code(raised.value) == EXIT_USAGE
