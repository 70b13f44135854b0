"""The project's exceptions: one root, a few subclasses the CLI turns into one clear line."""


class DipwatchError(Exception):
    """Anything dipwatch reports to its user instead of a traceback."""

    exit_code = 1


class InputError(DipwatchError):
    """A file or argument that cannot be used at all (bad lines inside a file are data, not this)."""

    exit_code = 2


class ConfigError(DipwatchError):
    """Configuration out of range or unknown; the message names the field."""

    exit_code = 2


class ServiceError(DipwatchError):
    """Kafka, InfluxDB or Grafana could not be reached or refused a request."""

    exit_code = 3
