"""Grafana provisioning and annotations, against a fake Grafana checking each body with Grafana's API spec."""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from jsonschema import Draft4Validator
from pydantic import SecretStr

from streams.provision import grafana
from streams.engine.types import AnomalyEvent, Cause, Kind, Scope
from streams.settings import GrafanaSettings, Settings

# Inside the repository, so a plain clone runs these tests (source and licence: fixtures/grafana/README.md).
API_SUBSET = Path(__file__).resolve().parents[1] / "fixtures" / "grafana" / "api-subset.json"
DEFAULT_POLICY = {"receiver": "grafana-default-email", "group_by": ["grafana_folder", "alertname"]}
SECRET_SETTINGS = {"slack": {"url"}, "pagerduty": {"integrationKey"}}

Json = dict[str, Any]


@dataclass
class Route:
    """One (path template, method) of the spec: a regex for the path and the body's schema, if any."""

    method: str
    template: str
    pattern: re.Pattern[str]
    body_schema: Json | None


def load_routes(spec: Json) -> list[Route]:
    routes = []
    for template, operations in spec["paths"].items():
        regex = "^" + spec.get("basePath", "") + re.sub(r"\{[^}]+\}", "([^/]+)", template) + "$"
        for method, operation in operations.items():
            if method == "parameters":
                continue
            body = [p for p in operation.get("parameters", []) if p.get("in") == "body"]
            schema = body[0]["schema"] if body else None
            routes.append(Route(method.upper(), template, re.compile(regex), schema))
    # Literal segments beat placeholders: /datasources/uid/{uid} before /datasources/{id}.
    routes.sort(key=lambda r: r.template.count("{"))
    return routes


@dataclass
class GrafanaState:
    folders: dict[str, Json] = field(default_factory=dict)
    datasources: dict[str, Json] = field(default_factory=dict)
    dashboards: dict[str, Json] = field(default_factory=dict)
    rules: dict[str, Json] = field(default_factory=dict)
    contact_points: dict[str, Json] = field(default_factory=dict)
    policies: Json = field(default_factory=lambda: copy.deepcopy(DEFAULT_POLICY))
    annotations: list[Json] = field(default_factory=list)
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class FakeGrafana:
    """Serves the provisioning subset of Grafana's API on 127.0.0.1; records calls and violations."""

    def __init__(self, token: str) -> None:
        spec = json.loads(API_SUBSET.read_text())
        self.routes = load_routes(spec)
        self.definitions = spec["definitions"]
        self.token = token
        self.state = GrafanaState()
        self.calls: list[tuple[str, str]] = []
        self.violations: list[str] = []
        self.handlers: dict[tuple[str, str], Callable[..., tuple[int, Any]]] = _handlers(self.state)

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] != "GET"]

    def handle(self, method: str, raw_path: str, body: bytes, auth: str | None) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        self.calls.append((method, parts.path))
        if auth != f"Bearer {self.token}":
            return 401, {"message": "Unauthorized"}
        route, args = self._match(method, parts.path)
        if route is None:
            return 404, {"message": "Not found"}
        payload = json.loads(body) if body else None
        if route.body_schema is not None:
            errors = self._violations(route.body_schema, payload)
            if errors:
                self.violations.extend(f"{method} {parts.path}: {e}" for e in errors)
                return 400, {"message": "; ".join(errors)}
        handler = self.handlers.get((method, route.template))
        if handler is None:
            self.violations.append(f"{method} {route.template}: not implemented by the fake")
            return 501, {"message": "not implemented by the fake"}
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        return handler(*args, body=payload, query=query)

    def _match(self, method: str, path: str) -> tuple[Route | None, tuple[str, ...]]:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method == method:
                return route, found.groups()
        return None, ()

    def _violations(self, schema: Json, payload: Any) -> list[str]:
        validator = Draft4Validator({**schema, "definitions": self.definitions})
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(payload)]


def _handlers(state: GrafanaState) -> dict[tuple[str, str], Callable[..., tuple[int, Any]]]:
    def health(**_: Any) -> tuple[int, Any]:
        return 200, {"database": "ok", "version": "11.3.0"}

    def get_folder(uid: str, **_: Any) -> tuple[int, Any]:
        return (200, state.folders[uid]) if uid in state.folders else (404, {"message": "folder not found"})

    def create_folder(body: Json, **_: Any) -> tuple[int, Any]:
        if body.get("uid") in state.folders:
            return 409, {"message": "folder exists"}
        folder = {"id": state.new_id(), "uid": body["uid"], "title": body["title"], "version": 1}
        state.folders[folder["uid"]] = folder
        return 200, folder

    def update_folder(uid: str, body: Json, **_: Any) -> tuple[int, Any]:
        folder = state.folders[uid]
        folder.update(title=body.get("title", folder["title"]), version=folder["version"] + 1)
        return 200, folder

    def get_datasource(uid: str, **_: Any) -> tuple[int, Any]:
        if uid not in state.datasources:
            return 404, {"message": "Data source not found"}
        return 200, state.datasources[uid]

    def save_datasource(uid: str | None = None, *, body: Json, **_: Any) -> tuple[int, Any]:
        stored = {k: v for k, v in body.items() if k != "secureJsonData"}
        stored.update(id=state.new_id(), secureJsonFields={k: True for k in body.get("secureJsonData", {})})
        state.datasources[stored["uid"]] = stored
        return 200, {"datasource": stored, "id": stored["id"], "message": "Datasource saved"}

    def get_dashboard(uid: str, **_: Any) -> tuple[int, Any]:
        if uid not in state.dashboards:
            return 404, {"message": "Dashboard not found"}
        return 200, state.dashboards[uid]

    def save_dashboard(body: Json, **_: Any) -> tuple[int, Any]:
        dashboard = copy.deepcopy(body["dashboard"])
        previous = state.dashboards.get(dashboard["uid"], {}).get("dashboard", {})
        dashboard.update(id=previous.get("id", state.new_id()), version=previous.get("version", 0) + 1)
        state.dashboards[dashboard["uid"]] = {"dashboard": dashboard, "meta": {"folderUid": body.get("folderUid")}}
        saved = {key: dashboard[key] for key in ("id", "uid", "version")}
        return 200, {**saved, "status": "success"}

    def get_rule(uid: str, **_: Any) -> tuple[int, Any]:
        return (200, state.rules[uid]) if uid in state.rules else (404, {"message": "rule not found"})

    def create_rule(body: Json, **_: Any) -> tuple[int, Any]:
        if body.get("uid") in state.rules:
            return 409, {"message": "rule exists"}
        if body["folderUID"] not in state.folders:
            return 400, {"message": "folder does not exist"}
        state.rules[body["uid"]] = {**copy.deepcopy(body), "id": state.new_id(), "provenance": "api"}
        return 201, state.rules[body["uid"]]

    def update_rule(uid: str, body: Json, **_: Any) -> tuple[int, Any]:
        if uid not in state.rules:
            return 404, {"message": "rule not found"}
        state.rules[uid] = {**copy.deepcopy(body), "id": state.rules[uid]["id"], "provenance": "api"}
        return 200, state.rules[uid]

    def list_contact_points(query: Json, **_: Any) -> tuple[int, Any]:
        points = [p for p in state.contact_points.values() if "name" not in query or p["name"] == query["name"]]
        return 200, [_redact(p) for p in points]

    def save_contact_point(uid: str | None = None, *, body: Json, **_: Any) -> tuple[int, Any]:
        if uid is not None and uid not in state.contact_points:
            return 404, {"message": "contact point not found"}
        point = copy.deepcopy(body)
        point["uid"] = uid or point.get("uid") or f"cp{state.new_id()}"
        state.contact_points[point["uid"]] = point
        return 202 if uid else 201, _redact(point)

    def get_policies(**_: Any) -> tuple[int, Any]:
        return 200, state.policies

    def set_policies(body: Json, **_: Any) -> tuple[int, Any]:
        state.policies = copy.deepcopy(body)
        return 202, {"message": "policies updated"}

    def add_annotation(body: Json, **_: Any) -> tuple[int, Any]:
        annotation = {**body, "id": state.new_id()}
        state.annotations.append(annotation)
        return 200, {"id": annotation["id"], "message": "Annotation added"}

    return {
        ("GET", "/health"): health,
        ("GET", "/folders/{folder_uid}"): get_folder,
        ("POST", "/folders"): create_folder,
        ("PUT", "/folders/{folder_uid}"): update_folder,
        ("GET", "/datasources/uid/{uid}"): get_datasource,
        ("POST", "/datasources"): save_datasource,
        ("PUT", "/datasources/uid/{uid}"): save_datasource,
        ("GET", "/dashboards/uid/{uid}"): get_dashboard,
        ("POST", "/dashboards/db"): save_dashboard,
        ("GET", "/v1/provisioning/alert-rules/{UID}"): get_rule,
        ("POST", "/v1/provisioning/alert-rules"): create_rule,
        ("PUT", "/v1/provisioning/alert-rules/{UID}"): update_rule,
        ("GET", "/v1/provisioning/contact-points"): list_contact_points,
        ("POST", "/v1/provisioning/contact-points"): save_contact_point,
        ("PUT", "/v1/provisioning/contact-points/{UID}"): save_contact_point,
        ("GET", "/v1/provisioning/policies"): get_policies,
        ("PUT", "/v1/provisioning/policies"): set_policies,
        ("POST", "/annotations"): add_annotation,
    }


def _redact(point: Json) -> Json:
    # Grafana never returns secrets of a contact point, only that they are set.
    secret = SECRET_SETTINGS.get(point["type"], set())
    settings = {k: ("[REDACTED]" if k in secret else v) for k, v in point["settings"].items()}
    return {**point, "settings": settings}


def _handler_class(fake: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = fake.handle(self.command, self.path, body, self.headers.get("Authorization"))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


@contextmanager
def running_fake(token: str) -> Iterator[tuple[FakeGrafana, str]]:
    """A FakeGrafana on a free loopback port; yields it and its base URL."""
    fake = FakeGrafana(token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(fake))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- tests

TOKEN = "glsa_test-token-not-for-logs"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[tuple[FakeGrafana, Settings]]:
    with running_fake(TOKEN) as (server, url):
        yield server, Settings(grafana=GrafanaSettings(url=url, token=SecretStr(TOKEN)))


def test_provision_creates_everything_with_bodies_grafana_accepts(fake: tuple[FakeGrafana, Settings]) -> None:
    server, settings = fake
    changes = grafana.provision(settings)
    assert server.violations == []
    state = server.state
    assert set(state.folders) == {"dipwatch"}
    assert set(state.datasources) == {"dipwatch-influx"}
    assert state.datasources["dipwatch-influx"]["secureJsonFields"] == {"token": True}
    assert set(state.dashboards) == {"dipwatch-overview", "dipwatch-series"}
    assert set(state.rules) == {"dipwatch-sustained-drop", "dipwatch-platform-incident"}
    assert [p["type"] for p in state.contact_points.values()] == ["webhook"]
    assert state.policies["receiver"] == "dipwatch"
    assert len(changes) == len(server.writes) == 8


def test_provision_twice_writes_nothing_the_second_time(fake: tuple[FakeGrafana, Settings]) -> None:
    server, settings = fake
    grafana.provision(settings)
    writes_before = len(server.writes)
    assert grafana.provision(settings) == []
    assert len(server.writes) == writes_before
    assert server.violations == []


def test_provision_writes_only_what_changed(fake: tuple[FakeGrafana, Settings]) -> None:
    server, settings = fake
    grafana.provision(settings)
    writes_before = len(server.writes)
    slack = settings.grafana.model_copy(update={"contact": "slack", "slack_url": SecretStr("https://hooks/x")})
    changes = grafana.provision(settings.model_copy(update={"grafana": slack}))
    assert changes == ["updated contact point dipwatch (slack)"]
    assert server.writes[writes_before:] == [("PUT", "/api/v1/provisioning/contact-points/dipwatch-contact")]
    # Grafana hides the Slack URL on read; a third run must still see nothing to do.
    assert grafana.provision(settings.model_copy(update={"grafana": slack})) == []


def test_secrets_never_reach_the_logs(fake: tuple[FakeGrafana, Settings], caplog: pytest.LogCaptureFixture) -> None:
    _, settings = fake
    caplog.set_level("DEBUG")
    grafana.provision(settings)
    assert TOKEN not in caplog.text


def test_wrong_token_is_one_service_error(fake: tuple[FakeGrafana, Settings]) -> None:
    _, settings = fake
    wrong = settings.grafana.model_copy(update={"token": SecretStr("nope")})
    with pytest.raises(grafana.ServiceError) as raised:
        grafana.provision(settings.model_copy(update={"grafana": wrong}))
    assert "nope" not in str(raised.value) and TOKEN not in str(raised.value)


def test_the_fake_refuses_unknown_paths_and_bad_bodies(fake: tuple[FakeGrafana, Settings]) -> None:
    server, _ = fake
    auth = f"Bearer {TOKEN}"
    assert server.handle("GET", "/api/nonexistent", b"", auth)[0] == 404
    assert server.handle("POST", "/api/annotations", b'{"time": 1}', auth)[0] == 400  # text is required
    assert server.violations


def _event(kind: Kind, scope: Scope = Scope.SERIES, cause: Cause = Cause.PURGE) -> AnomalyEvent:
    series = scope is Scope.SERIES
    return AnomalyEvent(
        kind=kind, scope=scope, platform="tiktok", account="acme" if series else None, metric="followers",
        post=None, onset_ms=1_795_176_000_000, decided_ms=1_795_176_900_000, baseline=1000.0, low=900.0,
        cause=cause, message="tiktok/acme/followers fell 10%", affected=None if series else 12,
        of=None if series else 40,
    )  # fmt: skip


@pytest.mark.parametrize(
    "kind,scope",
    [(Kind.GLITCH, Scope.SERIES), (Kind.SUSTAINED_DROP, Scope.SERIES), (Kind.RECOVERY, Scope.SERIES),
     (Kind.SUSTAINED_DROP, Scope.PLATFORM)],
)  # fmt: skip
def test_annotations_span_onset_to_decided_with_tags(
    fake: tuple[FakeGrafana, Settings], kind: Kind, scope: Scope
) -> None:
    server, settings = fake
    assert grafana.annotate(_event(kind, scope), settings.grafana)
    assert server.violations == []
    (annotation,) = server.state.annotations
    assert (annotation["time"], annotation["timeEnd"]) == (1_795_176_000_000, 1_795_176_900_000)
    assert {f"kind:{kind.value}", f"scope:{scope.value}", "platform:tiktok", "cause:purge"} <= set(annotation["tags"])
    assert annotation["text"] == "tiktok/acme/followers fell 10%"


def test_growth_stall_of_one_series_is_not_annotated(fake: tuple[FakeGrafana, Settings]) -> None:
    server, settings = fake
    assert not grafana.annotate(_event(Kind.GROWTH_STALL, cause=Cause.REACH), settings.grafana)
    assert server.calls == []


# ---------------------------------------------------------------- the files themselves

DASHBOARD_FILES = sorted((REPO / "dashboards").glob("*.json"))
PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"


def _queries(dashboard: Json) -> list[str]:
    panels = [t["query"] for p in dashboard["panels"] for t in p["targets"]]
    annotations = [a["target"]["query"] for a in dashboard["annotations"]["list"]]
    variables = [v["query"] for v in dashboard["templating"]["list"]]
    return panels + annotations + variables


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboards_query_the_dipwatch_datasource_only(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"].startswith("dipwatch-") and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "influxdb", "uid": "dipwatch-influx"}
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
    for query in _queries(dashboard):
        assert 'bucket: "dipwatch/autogen"' in query


def test_dashboard_files_are_the_two_named() -> None:
    assert [p.name for p in DASHBOARD_FILES] == ["overview.json", "series.json"]


def test_series_dashboard_drills_down_with_anomaly_annotations() -> None:
    series = json.loads((REPO / "dashboards" / "series.json").read_text())
    assert [v["name"] for v in series["templating"]["list"]] == ["platform", "account", "metric"]
    (annotation,) = series["annotations"]["list"]
    assert 'r._measurement == "anomaly"' in annotation["target"]["query"]
    measurements = " ".join(t["query"] for p in series["panels"] for t in p["targets"])
    assert all(f'"{m}"' in measurements for m in ("count", "series_state", "anomaly"))


def test_alert_rules_file_is_deliberate_about_states_labels_and_runbooks() -> None:
    document = yaml.safe_load((PROVISIONING / "alerting" / "rules.yaml").read_text())
    assert document["apiVersion"] == 1
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert {r["uid"] for r in rules} == {"dipwatch-sustained-drop", "dipwatch-platform-incident"}
    for rule in rules:
        assert rule["condition"] in {q["refId"] for q in rule["data"]}
        assert (rule["noDataState"], rule["execErrState"]) == ("OK", "Error")
        assert {"severity", "platform", "cause"} <= set(rule["labels"])
        assert {"summary", "runbook_url", "runbook"} <= set(rule["annotations"])
    runbooks = rules[0]["annotations"]["runbook"]
    assert all(f'"{cause}"' in runbooks for cause in ("purge", "removal", "attrition", "outage"))


def test_rules_sent_to_the_api_are_the_files_rules() -> None:
    spec = json.loads(API_SUBSET.read_text())
    validator = Draft4Validator({"$ref": "#/definitions/ProvisionedAlertRule", "definitions": spec["definitions"]})
    document = yaml.safe_load((PROVISIONING / "alerting" / "rules.yaml").read_text())
    for body, rule in zip(grafana.alert_rules(), document["groups"][0]["rules"]):
        assert list(validator.iter_errors(body)) == []
        assert body["data"] == rule["data"] and body["folderUID"] == "dipwatch"


def test_provisioning_files_name_the_same_things() -> None:
    source = yaml.safe_load((PROVISIONING / "datasources" / "dipwatch.yaml").read_text())["datasources"][0]
    assert (source["uid"], source["type"], source["jsonData"]["version"]) == ("dipwatch-influx", "influxdb", "Flux")
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "dipwatch.yaml").read_text())["providers"][0]
    assert provider["folderUid"] == "dipwatch"
    contact = yaml.safe_load((PROVISIONING / "alerting" / "contact-points.yaml").read_text())["contactPoints"][0]
    policy = yaml.safe_load((PROVISIONING / "alerting" / "policies.yaml").read_text())["policies"][0]
    assert contact["receivers"][0]["type"] == "webhook" and policy["receiver"] == contact["name"]
    assert policy["group_by"] == ["platform", "metric", "incident"]


def test_provisioned_queries_read_the_configured_bucket() -> None:
    bucket = "metrics/one_year"
    every_query = json.dumps(grafana.dashboards(bucket)) + json.dumps(grafana.alert_rules(bucket))
    assert "dipwatch/autogen" not in every_query and every_query.count("metrics/one_year") >= 15


def test_worker_annotation_sink_posts_each_decision_once(fake: tuple[FakeGrafana, Settings]) -> None:
    import asyncio

    from streams.engine import AnomalyEvent, Cause, Kind, Scope
    from streams.provision.grafana import GrafanaAnnotations

    glitch = AnomalyEvent(Kind.GLITCH, Scope.SERIES, "x", "acme", "followers", None,
                          1795176000000, 1795176180000, 1000.0, 0.0, Cause.GLITCH, "x/acme/followers dipped")  # fmt: skip
    server, settings = fake
    sink = GrafanaAnnotations(settings.grafana)
    sink.add_batch([], [glitch])
    assert asyncio.run(sink.flush()) == 1
    assert asyncio.run(sink.flush()) == 0
    assert len(server.state.annotations) == 1 and "kind:glitch" in server.state.annotations[0]["tags"]
