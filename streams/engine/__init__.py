"""The pure detection engine: standard library only, event time only, deterministic."""

from streams.engine.config import DetectorConfig
from streams.engine.detector import Detector
from streams.engine.types import AnomalyEvent, Cause, Evidence, Kind, Scope, Update, series_key

__all__ = ["AnomalyEvent", "Cause", "Detector", "Evidence", "DetectorConfig", "Kind", "Scope", "Update", "series_key"]
