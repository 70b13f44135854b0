"""Create dipwatch's InfluxDB 1.8 database and retention policy (InfluxQL over /query: no v2 API for it)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode

from streams.errors import ConfigError, ServiceError
from streams.settings import InfluxSettings

log = logging.getLogger(__name__)


def database_and_policy(bucket: str) -> tuple[str, str]:
    """InfluxDB 1.8 names a v2 bucket `database/retention_policy`.

    >>> database_and_policy("dipwatch/autogen"), database_and_policy("metrics")
    (('dipwatch', 'autogen'), ('metrics', 'autogen'))
    """
    database, _, policy = bucket.partition("/")
    if not database:
        raise ConfigError(f"influx.bucket {bucket!r}: expected database/retention_policy")
    return database, policy or "autogen"


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def init_database(settings: InfluxSettings) -> str:
    """Create the database and make its policy the default with the configured retention; idempotent.

    Returns what was done, for the CLI to print.
    """
    database, policy = database_and_policy(settings.bucket)
    _query(settings, f"CREATE DATABASE {_quote(database)}")
    existing = _policies(settings, database)
    verb = "ALTER" if policy in existing else "CREATE"
    replication = "" if verb == "ALTER" else " REPLICATION 1"
    _query(
        settings,
        f"{verb} RETENTION POLICY {_quote(policy)} ON {_quote(database)} "
        f"DURATION {settings.retention}{replication} DEFAULT",
    )
    log.info("influx database ready: database=%s policy=%s retention=%s", database, policy, settings.retention)
    return f"database {database}, retention policy {policy} ({settings.retention}, default)"


def _policies(settings: InfluxSettings, database: str) -> set[str]:
    result = _query(settings, f"SHOW RETENTION POLICIES ON {_quote(database)}", method="GET")
    series = result.get("results", [{}])[0].get("series", [])
    return {row[0] for item in series for row in item.get("values", [])}


def _query(settings: InfluxSettings, statement: str, method: str = "POST") -> dict:
    url = settings.url.rstrip("/") + "/query"
    query = urllib.parse.urlencode({"q": statement})
    request = (
        urllib.request.Request(f"{url}?{query}", method="GET")
        if method == "GET"
        else urllib.request.Request(url, data=query.encode(), method="POST")
    )
    what = statement.split(" ON ")[0]  # the statement without its database, for errors
    token = settings.token.get_secret_value()
    if token:  # influxdb-client's "user:password" token is HTTP basic auth to the 1.x API
        request.add_header("Authorization", "Basic " + b64encode(token.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raise ServiceError(f"InfluxDB at {settings.url} refused {what}: HTTP {error.code}") from error
    except (urllib.error.URLError, OSError) as error:
        raise ServiceError(f"InfluxDB at {settings.url} is unreachable: {error}") from error
    problem = next((r["error"] for r in body.get("results", []) if "error" in r), None)
    if problem:
        raise ServiceError(f"InfluxDB at {settings.url} refused {what}: {problem}")
    return body
