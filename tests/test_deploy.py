"""deploy/ checked without Docker or a cluster: every setting it passes is a real setting that parses,
every object it names exists, and the wiring (ports, listeners, log dirs, waits) is what the README
promises."""

from __future__ import annotations

import re

import pytest

from streams.settings import KafkaSettings, Settings, load_settings
from tests.deploy_files import (
    COMPOSE_FILE,
    DEPLOY,
    SAMPLE_ENV,
    MissingVariable,
    compose,
    compose_variables,
    kubernetes_object,
    kubernetes_objects,
    kubernetes_worker_env,
    service_env,
    setting_path,
    worker_container,
    worker_statefulset,
)

DIPWATCH_SERVICES = ("topics", "worker")


def deploy_environments() -> dict[str, dict[str, str]]:
    envs = {f"compose:{name}": service_env(name) for name in compose()["services"]}
    envs["kubernetes:worker"] = kubernetes_worker_env()
    return envs


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    import os

    for name in [n for n in os.environ if n.startswith("DIPWATCH_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("DIPWATCH_"):
            monkeypatch.setenv(name, value)
    return load_settings()


@pytest.mark.parametrize("where", sorted(deploy_environments()))
def test_every_dipwatch_variable_names_a_setting(where: str) -> None:
    for variable in deploy_environments()[where]:
        if not variable.startswith("DIPWATCH_"):
            continue
        section, field = setting_path(variable)
        assert section in Settings.model_fields, f"{where}: {variable} names no settings section"
        model = Settings.model_fields[section].annotation
        assert field in model.model_fields, f"{where}: {variable} is not a field of [{section}]"


@pytest.mark.parametrize("where", ["compose:topics", "compose:influx-init", "compose:worker", "kubernetes:worker"])
def test_the_worker_settings_parse_and_say_where_everything_is(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(deploy_environments()[where], monkeypatch)
    assert settings.kafka.bootstrap_servers != KafkaSettings().bootstrap_servers  # a service name, not loopback
    assert str(settings.worker.data_dir).startswith("/"), "the data dir is set explicitly, as an absolute path"
    if where.endswith("worker"):
        assert settings.influx.enabled and settings.influx.token.get_secret_value()


def test_compose_refuses_to_start_without_its_required_variables() -> None:
    required = {name for name, op, _ in compose_variables() if op in (":?", "?")}
    assert required == set(SAMPLE_ENV)
    header = COMPOSE_FILE.read_text().split("\nname:", 1)[0]
    for name in {name for name, _, _ in compose_variables()}:
        assert name in header, f"{name} is read by the compose file but not documented at its top"
    for name in required:
        with pytest.raises(MissingVariable):
            compose({k: v for k, v in SAMPLE_ENV.items() if k != name})


def test_compose_references_exist() -> None:
    spec = compose()
    services, volumes = spec["services"], set(spec.get("volumes") or {})
    for name, service in services.items():
        for dependency, how in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on undefined {dependency}"
            condition = how["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency} to be healthy: no healthcheck"
            else:
                assert condition in ("service_started", "service_completed_successfully")
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith("."):
                assert source in volumes, f"{name} mounts undefined volume {source}"
            else:
                assert (COMPOSE_FILE.parent / source).exists(), f"{name} mounts missing {source}"


def test_workers_start_only_after_kafka_is_healthy_and_the_topics_exist() -> None:
    services = compose()["services"]
    assert services["topics"]["command"] == ["dipwatch", "topics"]
    assert services["topics"].get("restart") == "no"  # a one-shot: its exit code is the signal
    waits = services["worker"]["depends_on"]
    assert waits["kafka"]["condition"] == "service_healthy"
    assert waits["topics"]["condition"] == "service_completed_successfully"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["influx-init"]["command"] == ["dipwatch", "influx", "init"]
    assert waits["influx-init"]["condition"] == "service_completed_successfully"
    for one_shot in ("topics", "influx-init"):
        assert services[one_shot].get("restart") == "no"


def test_host_ports_let_the_readme_commands_feed_the_stack_with_their_defaults() -> None:
    services = compose()["services"]
    defaults = Settings()
    kafka_port = defaults.kafka.bootstrap_servers.rsplit(":", 1)[1]
    influx_port = defaults.influx.url.rsplit(":", 1)[1]
    grafana_port = defaults.grafana.url.rsplit(":", 1)[1]
    assert f"127.0.0.1:{kafka_port}:9092" in services["kafka"]["ports"]
    assert f"127.0.0.1:{influx_port}:8086" in services["influxdb"]["ports"]
    assert f"127.0.0.1:{grafana_port}:3000" in services["grafana"]["ports"]


def test_kafka_listeners_advertise_the_container_name_inside_and_localhost_outside() -> None:
    env = service_env("kafka")
    listeners = dict(re.match(r"(\w+)://(.*)", item).groups() for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(re.match(r"(\w+)://(.*)", item).groups() for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) == set(protocols), "every listener needs a security protocol"
    assert set(advertised) == set(listeners) - {env["KAFKA_CONTROLLER_LISTENER_NAMES"]}
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    # The containers' bootstrap address is the internal advertised one; the host's is the default.
    inside = service_env("worker")["DIPWATCH_KAFKA__BOOTSTRAP_SERVERS"]
    assert inside in advertised.values() and inside.startswith("kafka:")
    host_port = KafkaSettings().bootstrap_servers.rsplit(":", 1)[1]
    assert f"localhost:{host_port}" in advertised.values()
    for name, address in advertised.items():
        assert listeners[name].endswith(":" + address.rsplit(":", 1)[1]), f"{name} advertises another port"
    voter_port = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].rsplit(":", 1)[1]
    assert listeners[env["KAFKA_CONTROLLER_LISTENER_NAMES"]].endswith(":" + voter_port)


def test_kafka_keeps_its_log_on_the_volume() -> None:
    kafka = compose()["services"]["kafka"]
    mounted = {mount.split(":")[1] for mount in kafka["volumes"]}
    assert service_env("kafka")["KAFKA_LOG_DIRS"] in mounted


def test_grafana_gets_every_variable_its_provisioning_files_read() -> None:
    env = service_env("grafana")
    for path in (DEPLOY / "grafana" / "provisioning").rglob("*.yaml"):
        for name in re.findall(r"\$\{(\w+)\}", path.read_text()):
            assert env.get(name), f"{path.name} reads ${{{name}}}, which the grafana service does not set"
    assert env["DIPWATCH_GRAFANA__WEBHOOK_URL"] == SAMPLE_ENV["DIPWATCH_WEBHOOK_URL"]
    assert service_env("worker")["DIPWATCH_GRAFANA__WEBHOOK_URL"] == SAMPLE_ENV["DIPWATCH_WEBHOOK_URL"]


def test_kubernetes_references_exist() -> None:
    statefulset = worker_statefulset()
    service = kubernetes_object("Service", statefulset["spec"]["serviceName"])
    assert service is not None, "the StatefulSet's serviceName is not defined"
    assert service["spec"]["clusterIP"] == "None", "a StatefulSet's governing Service is headless"
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= labels.items()
    container = worker_container()
    port_names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    for item in container["env"]:
        for kind, ref_key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            ref = item.get("valueFrom", {}).get(ref_key)
            if ref:
                target = kubernetes_object(kind, ref["name"])
                assert target is not None, f"{item['name']} reads undefined {kind} {ref['name']}"
                assert ref["key"] in {**target.get("data", {}), **target.get("stringData", {})}
    volumes = {v["name"] for v in statefulset["spec"]["template"]["spec"].get("volumes", [])}
    volumes |= {t["metadata"]["name"] for t in statefulset["spec"].get("volumeClaimTemplates", [])}
    for mount in container["volumeMounts"]:
        assert mount["name"] in volumes, f"mount {mount['name']} has no volume"
    assert {o["kind"] for o in kubernetes_objects()} >= {"StatefulSet", "Service", "Secret"}


def test_kubernetes_worker_is_probed_on_its_web_port_and_can_write_its_volume() -> None:
    container = worker_container()
    env = kubernetes_worker_env()
    web_port = int(env.get("DIPWATCH_WORKER__WEB_PORT", Settings().worker.web_port))
    assert web_port in {p["containerPort"] for p in container["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        spec = container[probe]
        target = spec.get("httpGet", {}).get("port") or " ".join(spec["exec"]["command"])
        assert str(web_port) in str(target) or target == "web", f"{probe} does not ask the web port"
    security = worker_statefulset()["spec"]["template"]["spec"]["securityContext"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "USER nobody" in dockerfile and security["runAsUser"] == 65534
    assert security["fsGroup"] == 65534, "the volume must be writable by the image's user"
    (data,) = [m for m in container["volumeMounts"] if m["name"] == "data"]
    assert env["DIPWATCH_WORKER__DATA_DIR"] == data["mountPath"]


def test_deploy_files_name_the_same_datasource_the_rules_query() -> None:
    import yaml

    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/dipwatch.yaml").read_text())
    rules = yaml.safe_load((DEPLOY / "grafana/provisioning/alerting/rules.yaml").read_text())
    uid = datasource["datasources"][0]["uid"]
    queried = {q["datasourceUid"] for g in rules["groups"] for r in g["rules"] for q in r["data"]}
    assert queried - {"__expr__"} == {uid}
