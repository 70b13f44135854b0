"""Provision Grafana (folder, datasource, dashboards, alert rules, contact point, policies) and annotate events."""

from __future__ import annotations

import asyncio

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import niquests
import yaml
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from streams.formats.codec import format_time
from streams.engine.types import AnomalyEvent, Kind, Scope
from streams.errors import ConfigError, ServiceError
from streams.sinks.point_buffer import PointBuffer
from streams.settings import GrafanaSettings, InfluxSettings, Settings

log = logging.getLogger(__name__)
_ANNOTATIONS_KEPT = 10_000  # annotations waiting for Grafana at most; a long outage drops the oldest

def _assets_root() -> Path:
    """The repository in a checkout or editable install, else the data files of a plain install."""
    checkout = Path(__file__).resolve().parents[2]
    installed = Path(sys.prefix) / "share" / "dipwatch"
    return checkout if (checkout / "dashboards").is_dir() else installed


REPO = _assets_root()
PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"
DASHBOARDS = REPO / "dashboards"
FOLDER_UID = "dipwatch"
DATASOURCE_UID = "dipwatch-influx"
CONTACT_NAME = "dipwatch"
CONTACT_UID = "dipwatch-contact"
#: The bucket the files name; `provision` swaps in the configured one.
FILE_BUCKET = "dipwatch/autogen"
#: Annotations mark what a person looks back for; growth stalls of one series would be noise.
ANNOTATED_KINDS = {Kind.GLITCH, Kind.SUSTAINED_DROP, Kind.RECOVERY}

Json = dict[str, Any]


def read_yaml(name: str) -> Json:
    return yaml.safe_load((PROVISIONING / name).read_text())


def with_bucket(query: str, bucket: str) -> str:
    """A provisioned Flux query reading `bucket` instead of the files' default one."""
    return query.replace(f'bucket: "{FILE_BUCKET}"', f"bucket: {json.dumps(bucket)}")


def alert_rules(bucket: str = FILE_BUCKET) -> list[Json]:
    """`alerting/rules.yaml` as the provisioning API's ProvisionedAlertRule bodies."""
    rules = []
    for group in read_yaml("alerting/rules.yaml")["groups"]:
        for rule in group["rules"]:
            body = {**rule, "orgID": group.get("orgId", 1), "folderUID": FOLDER_UID, "ruleGroup": group["name"]}
            body["data"] = _map_strings(rule["data"], bucket)
            rules.append(body)
    return rules


def rule_queries(bucket: str = FILE_BUCKET) -> dict[str, str]:
    """Each alert rule's Flux query by rule uid: what the integration tests run against InfluxDB."""
    return {
        rule["uid"]: query["model"]["query"]
        for rule in alert_rules(bucket)
        for query in rule["data"]
        if "query" in query.get("model", {})
    }


def policy_tree() -> Json:
    """`alerting/policies.yaml`'s root policy as the API's Route."""
    policy = dict(read_yaml("alerting/policies.yaml")["policies"][0])
    policy.pop("orgId", None)
    return policy


def dashboards(bucket: str = FILE_BUCKET) -> list[Json]:
    # Replaced in the parsed queries, not the file's text, where quotes are escaped.
    return [_map_strings(json.loads(path.read_text()), bucket) for path in sorted(DASHBOARDS.glob("*.json"))]


def _map_strings(value: Any, bucket: str) -> Any:
    if isinstance(value, str):
        return with_bucket(value, bucket)
    if isinstance(value, dict):
        return {key: _map_strings(item, bucket) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, bucket) for item in value]
    return value


def datasource_body(influx: InfluxSettings) -> Json:
    source = read_yaml("datasources/dipwatch.yaml")["datasources"][0]
    body = {key: source[key] for key in ("name", "uid", "type", "access")}
    body.update(url=influx.url, jsonData={**source["jsonData"], "defaultBucket": influx.bucket,
                                          "organization": influx.org})  # fmt: skip
    return body


def contact_point_body(grafana: GrafanaSettings) -> Json:
    """The contact point `dipwatch` by `grafana.contact`; the webhook one is contact-points.yaml's."""
    settings_by_type: dict[str, Callable[[], Json]] = {
        "webhook": lambda: {"url": grafana.webhook_url, "httpMethod": "POST"},
        "slack": lambda: {"url": grafana.slack_url.get_secret_value()},
        "email": lambda: {"addresses": grafana.email_addresses},
        "pagerduty": lambda: {"integrationKey": grafana.pagerduty_key.get_secret_value()},
    }
    if grafana.contact not in settings_by_type:
        raise ConfigError(f"grafana.contact: {grafana.contact!r} is not one of {', '.join(settings_by_type)}")
    return {
        "uid": CONTACT_UID, "name": CONTACT_NAME, "type": grafana.contact,
        "settings": settings_by_type[grafana.contact](), "disableResolveMessage": False,
    }  # fmt: skip


def connect(grafana: GrafanaSettings) -> GrafanaApi:
    token = grafana.token.get_secret_value()
    return GrafanaApi.from_url(grafana.url, credential=token or None)


def provision(settings: Settings, api: GrafanaApi | None = None) -> list[str]:
    """Create or update everything dipwatch needs in Grafana; returns what changed (empty: nothing)."""
    api = api or connect(settings.grafana)
    steps: list[Callable[[], str | None]] = [
        lambda: _ensure_folder(api, settings.grafana.folder),
        lambda: _ensure_datasource(api, settings.influx),
        *[lambda d=d: _ensure_dashboard(api, d) for d in dashboards(settings.influx.bucket)],
        *[lambda r=r: _ensure_rule(api, r) for r in alert_rules(settings.influx.bucket)],
        lambda: _ensure_contact_point(api, contact_point_body(settings.grafana)),
        lambda: _ensure_policies(api, policy_tree()),
    ]
    changes = []
    for step in steps:
        with _grafana_errors(settings.grafana.url, "a request"):
            change = step()
        if change:
            log.info("grafana: %s", change)
            changes.append(change)
    return changes


@contextmanager
def _grafana_errors(url: str, what: str) -> Iterator[None]:
    """Grafana's refusals and network failures as one ServiceError on `url`; `what` names the request."""
    try:
        yield
    except GrafanaException as error:
        raise ServiceError(f"Grafana at {url} refused {what}: {error.message}") from error
    except niquests.exceptions.RequestException as error:
        raise ServiceError(f"Grafana at {url} is unreachable: {type(error).__name__}") from error


def differs(desired: Any, current: Any) -> bool:
    """Whether `current` lacks or contradicts anything in `desired` (extra keys Grafana adds are fine).

    >>> differs({"a": 1, "b": [{"c": 2}]}, {"a": 1, "b": [{"c": 2, "id": 9}], "version": 3})
    False
    >>> differs({"a": 1}, {"a": 2}), differs({"url": "[REDACTED]"}, {"url": "[REDACTED]"})
    (True, False)
    """
    if isinstance(desired, dict):
        return not isinstance(current, dict) or any(
            differs(value, current.get(key)) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            not isinstance(current, list)
            or len(desired) != len(current)
            or any(differs(d, c) for d, c in zip(desired, current))
        )
    return desired != current


def _get_or_none(fetch: Callable[[], Any]) -> Any:
    try:
        return fetch()
    except GrafanaClientError as error:
        if error.status_code == 404:
            return None
        raise


def _ensure_folder(api: GrafanaApi, title: str) -> str | None:
    current = _get_or_none(lambda: api.folder.get_folder(FOLDER_UID))
    if current is None:
        api.folder.create_folder(title, uid=FOLDER_UID)
        return f"created folder {title}"
    if current.get("title") != title:
        api.folder.update_folder(FOLDER_UID, title=title, overwrite=True)
        return f"renamed folder to {title}"
    return None


def _ensure_datasource(api: GrafanaApi, influx: InfluxSettings) -> str | None:
    desired = datasource_body(influx)
    current = _get_or_none(lambda: api.datasource.get_datasource_by_uid(DATASOURCE_UID))
    # The token is write-only in Grafana: it is sent with every change but cannot be compared.
    body = {**desired, "secureJsonData": {"token": influx.token.get_secret_value()}}
    return _upsert(
        f"datasource {DATASOURCE_UID}", desired, current,
        create=lambda: api.datasource.create_datasource(body),
        update=lambda: api.datasource.update_datasource_by_uid(DATASOURCE_UID, body),
    )  # fmt: skip


def _upsert(
    what: str, desired: Json, current: Json | None, create: Callable[[], object], update: Callable[[], object]
) -> str | None:
    """Create when missing, update when different, else leave alone: what makes provisioning idempotent."""
    if current is None:
        create()
        return f"created {what}"
    if differs(desired, current):
        update()
        return f"updated {what}"
    return None


def _ensure_dashboard(api: GrafanaApi, dashboard: Json) -> str | None:
    uid = dashboard["uid"]
    # Grafana numbers versions itself; ours would never match after the first save.
    desired = {key: value for key, value in dashboard.items() if key not in ("id", "version")}
    current = _get_or_none(lambda: api.dashboard.get_dashboard(uid))
    if current is not None and current.get("meta", {}).get("folderUid") == FOLDER_UID:
        if not differs(desired, current.get("dashboard")):
            return None
    api.dashboard.update_dashboard(
        {"dashboard": desired, "folderUid": FOLDER_UID, "overwrite": True, "message": "dipwatch provision"}
    )
    return f"{'created' if current is None else 'updated'} dashboard {uid}"


def _ensure_rule(api: GrafanaApi, rule: Json) -> str | None:
    uid = rule["uid"]
    current = _get_or_none(lambda: api.alertingprovisioning.get_alertrule(uid))
    return _upsert(
        f"alert rule {uid}", rule, current,
        create=lambda: api.alertingprovisioning.create_alertrule(rule),
        update=lambda: api.alertingprovisioning.update_alertrule(uid, rule),
    )  # fmt: skip


def _ensure_contact_point(api: GrafanaApi, desired: Json) -> str | None:
    found = api.alertingprovisioning.get_contactpoints(name=desired["name"]) or []
    current = next((point for point in found if point.get("uid") == desired["uid"]), None)
    return _upsert(
        f"contact point {desired['name']} ({desired['type']})",
        desired if current is None else _redacted_like(desired, current), current,
        create=lambda: api.alertingprovisioning.create_contactpoint(desired),
        update=lambda: api.alertingprovisioning.update_contactpoint(desired["uid"], desired),
    )  # fmt: skip


def _redacted_like(desired: Json, current: Json) -> Json:
    # Grafana returns secret settings as "[REDACTED]": those cannot be compared, only the rest.
    secret = {k for k, v in (current.get("settings") or {}).items() if v == "[REDACTED]"}
    settings = {k: ("[REDACTED]" if k in secret else v) for k, v in desired["settings"].items()}
    return {**desired, "settings": settings}


def _ensure_policies(api: GrafanaApi, desired: Json) -> str | None:
    current = api.alertingprovisioning.get_notification_policy_tree()
    if differs(desired, current):
        api.alertingprovisioning.set_notification_policy_tree(desired)
        return "set the notification policy tree"
    return None


def annotation_body(event: AnomalyEvent) -> Json | None:
    """The Grafana annotation for an event, spanning onset to decided; None for events not annotated."""
    if event.scope is Scope.SERIES and event.kind not in ANNOTATED_KINDS:
        return None
    return {
        "time": event.onset_ms,
        "timeEnd": event.decided_ms,
        "tags": ["dipwatch", f"kind:{event.kind.value}", f"scope:{event.scope.value}",
                 f"platform:{event.platform}", f"metric:{event.metric}", f"cause:{event.cause.value}"],
        "text": event.message,
        "data": {"id": event.event_id, "series": event.series, "decided": format_time(event.decided_ms)},
    }  # fmt: skip


def annotate(event: AnomalyEvent, grafana: GrafanaSettings, api: GrafanaApi | None = None) -> bool:
    """Post the event's annotation; returns whether one was posted."""
    body = annotation_body(event)
    if body is None:
        return False
    _post_annotation(api or connect(grafana), body, grafana)
    return True


def _post_annotation(api: GrafanaApi, body: Json, grafana: GrafanaSettings) -> None:
    with _grafana_errors(grafana.url, "an annotation"):
        api.client.POST("/annotations", json=body)


class GrafanaAnnotations:
    """A worker sink: each batch's glitches, pages, recoveries and platform incidents as annotations.

    grafana-client is synchronous, so posts run in the default executor, off the event loop. While
    Grafana cannot be reached the annotations wait, at most `_ANNOTATIONS_KEPT`, the oldest dropped
    first and counted.
    """

    name = "Grafana"

    def __init__(self, grafana: GrafanaSettings) -> None:
        self._grafana = grafana
        self._api: GrafanaApi | None = None
        self._bodies: PointBuffer[Json] = PointBuffer(_ANNOTATIONS_KEPT, chunk_size=1)  # one post each

    @property
    def pending(self) -> int:
        return len(self._bodies)

    @property
    def dropped(self) -> int:
        return self._bodies.dropped

    @property
    def target(self) -> str:
        return self._grafana.url

    def add_batch(self, updates: object, events: list[AnomalyEvent]) -> None:
        for body in map(annotation_body, events):
            if body is not None:
                self._bodies.add(body)

    async def flush(self, patience_s: float | None = None) -> int:
        """Post every waiting annotation; the first that fails stays first and the error is raised."""
        loop, posted = asyncio.get_running_loop(), 0
        while (chunk := self._bodies.take()) is not None:
            try:
                await loop.run_in_executor(None, self._post_all, chunk)
            except BaseException:
                self._bodies.give_back(chunk)
                raise
            self._bodies.done(chunk)
            posted += len(chunk)
        return posted

    def _post_all(self, bodies: list[Json]) -> int:
        self._api = self._api or connect(self._grafana)
        for body in bodies:
            _post_annotation(self._api, body, self._grafana)
        return len(bodies)
