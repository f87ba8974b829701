"""Per-service settings sections; each service's own fields live in its own module."""

from services.core.config.alerts import AlertsSettings
from services.core.config.analyzer import AnalyzerSettings
from services.core.config.gateway import GatewaySettings
from services.core.config.ingest import IngestSettings

__all__ = ["AlertsSettings", "AnalyzerSettings", "GatewaySettings", "IngestSettings"]
