"""Settings: the only module that reads the environment or a config file.

Precedence: command-line flag > environment (`DIPWATCH_`, nested with `__`) > TOML config file >
default. Secrets are `SecretStr`: masked whenever settings are printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from streams.engine.config import DetectorConfig
from streams.errors import ConfigError

_DETECTOR_DEFAULTS = DetectorConfig()


class DetectorSettings(BaseModel):
    """Mirrors DetectorConfig field by field; DetectorConfig validates the ranges."""

    model_config = {"extra": "forbid"}

    hold_ms: int = _DETECTOR_DEFAULTS.hold_ms
    min_drop_pct: float = _DETECTOR_DEFAULTS.min_drop_pct
    min_drop_abs: float = _DETECTOR_DEFAULTS.min_drop_abs
    recover_fraction: float = _DETECTOR_DEFAULTS.recover_fraction
    noise_factor: float = _DETECTOR_DEFAULTS.noise_factor
    rounding_factor: float = _DETECTOR_DEFAULTS.rounding_factor
    warmup_updates: int = _DETECTOR_DEFAULTS.warmup_updates
    lateness_ms: int = _DETECTOR_DEFAULTS.lateness_ms
    hold_backdate_max_ms: int = _DETECTOR_DEFAULTS.hold_backdate_max_ms
    settle_ms: int = _DETECTOR_DEFAULTS.settle_ms
    stall_window_ms: int = _DETECTOR_DEFAULTS.stall_window_ms
    stall_ratio: float = _DETECTOR_DEFAULTS.stall_ratio
    platform_window_ms: int = _DETECTOR_DEFAULTS.platform_window_ms
    platform_min_series: int = _DETECTOR_DEFAULTS.platform_min_series
    platform_min_fraction: float = _DETECTOR_DEFAULTS.platform_min_fraction

    @model_validator(mode="after")
    def _in_range(self) -> DetectorSettings:
        self.to_config()  # raises ValueError naming the field and its range
        return self

    def to_config(self) -> DetectorConfig:
        return DetectorConfig.from_mapping(self.model_dump())


class KafkaSettings(BaseModel):
    model_config = {"extra": "forbid"}

    bootstrap_servers: str = "127.0.0.1:9092"
    input_topic: str = "dipwatch.metrics"
    output_topic: str = "dipwatch.anomalies"
    dead_letter_topic: str = "dipwatch.metrics.dlq"
    platform_topic: str = "dipwatch.platform"
    partitions: int = Field(default=4, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1, le=16)
    group_id: str = "dipwatch"
    # A dead letter's value at most: longer records are cut (and marked in a header) so the dead
    # letter fits the broker's default message limit (1 MiB) and the producer's (1,000,000 bytes).
    dead_letter_max_bytes: int = Field(default=900_000, ge=1024, le=100_000_000)


def default_data_dir() -> Path:
    """Per user, outside any checkout: `$XDG_STATE_HOME/dipwatch`, else `~/.local/state/dipwatch`.

    State (RocksDB tables) is neither configuration nor cache: the XDG base-directory spec's state
    home is where it belongs, and a clone's directory never fills with it.
    """
    state_home = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state_home) if Path(state_home).is_absolute() else Path.home() / ".local" / "state"
    return base / "dipwatch"


class WorkerSettings(BaseModel):
    model_config = {"extra": "forbid"}

    store: str = "rocksdb://"
    data_dir: Path = Field(default_factory=default_data_dir)
    web_port: int = Field(default=6066, ge=1, le=65535)
    # Loopback unless configured: the page shows metrics and table contents, and has no authentication.
    web_bind: str = "127.0.0.1"
    batch_size: int = Field(default=5000, ge=1, le=100_000)  # messages taken from the input at most per batch
    batch_linger_s: float = Field(default=0.02, ge=0, le=5)  # wait for more messages once one has arrived
    checkpoint_interval_s: float = Field(default=5.0, gt=0, le=60)  # state saved and offsets acknowledged
    checkpoint_max_messages: int = Field(default=50_000, ge=1, le=10_000_000)  # or sooner, when this many wait
    idle_flush_s: float = Field(default=30.0, gt=0, le=3600)


class InfluxSettings(BaseModel):
    model_config = {"extra": "forbid"}

    enabled: bool = False
    url: str = "http://127.0.0.1:8086"
    token: SecretStr = SecretStr("")
    org: str = "-"
    bucket: str = "dipwatch/autogen"
    write_counts: bool = True
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    buffer_limit: int = Field(default=200_000, ge=1000, le=50_000_000)
    # How long one flush keeps retrying an unreachable InfluxDB before it gives up and raises,
    # keeping its points: long enough for a restart, short enough for the caller to pause input.
    retry_for_s: float = Field(default=30.0, gt=0, le=3600)
    # Retention of the database `dipwatch influx init` creates: an InfluxQL duration, or INF.
    retention: str = Field(default="90d", pattern=r"^(INF|[1-9][0-9]*[hdw])$")


class GrafanaSettings(BaseModel):
    model_config = {"extra": "forbid"}

    url: str = "http://127.0.0.1:3000"
    token: SecretStr = SecretStr("")
    folder: str = "dipwatch"
    contact: str = "webhook"
    webhook_url: str = "http://127.0.0.1:9099/dipwatch"
    slack_url: SecretStr = SecretStr("")
    email_addresses: str = ""
    pagerduty_key: SecretStr = SecretStr("")
    annotations: bool = False


class Settings(BaseSettings):
    """All of dipwatch's configuration."""

    model_config = SettingsConfigDict(env_prefix="DIPWATCH_", env_nested_delimiter="__", extra="forbid")

    detector: DetectorSettings = DetectorSettings()
    kafka: KafkaSettings = KafkaSettings()
    worker: WorkerSettings = Field(default_factory=WorkerSettings)  # its data dir depends on the environment
    influx: InfluxSettings = InfluxSettings()
    grafana: GrafanaSettings = GrafanaSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Resolve settings with the documented precedence; raise ConfigError field by field."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist")

    class _Resolved(Settings):
        model_config = SettingsConfigDict(toml_file=config_file)

    try:
        resolved = _Resolved(**overrides)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from error
    except ValueError as error:  # a malformed TOML file
        raise ConfigError(f"config file {config_file}: {error}") from error
    return resolved


def _describe(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "settings"
        parts.append(f"{where}: {problem['msg']}")
    return "invalid configuration: " + "; ".join(parts)
