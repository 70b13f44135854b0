"""Reading deploy/: the compose file with its variables expanded as Docker Compose expands them, the
Kubernetes objects, and the DIPWATCH_* settings each of them hands the worker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
KUBERNETES_DIR = DEPLOY / "kubernetes"

# What a user puts in deploy/.env; the tests expand the compose file with these.
SAMPLE_ENV = {"DIPWATCH_INFLUX_PASSWORD": "s3cret", "DIPWATCH_WEBHOOK_URL": "http://pager.example/dipwatch"}

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?|-|\?)(?P<arg>[^}]*))?\}")


class MissingVariable(KeyError):
    """A `${NAME:?message}` whose NAME is not set: Compose refuses to start, with the message."""


def expand(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation for the forms this project uses: ${V}, ${V:-default}, ${V:?error}."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = env.get(name)
        if op in (":?", "?") and not value:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and not value:
            return arg
        return value or ""

    return _VARIABLE.sub(substitute, text)


def compose_variables() -> list[tuple[str, str | None, str]]:
    """(name, operator, argument) of every ${...} in the compose file."""
    return [(m["name"], m["op"], m["arg"]) for m in _VARIABLE.finditer(COMPOSE_FILE.read_text())]


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    return yaml.safe_load(expand(COMPOSE_FILE.read_text(), SAMPLE_ENV if env is None else env))


def service_env(service: str, env: dict[str, str] | None = None) -> dict[str, str]:
    environment = compose(env)["services"][service].get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {k: str(v) for k, v in environment.items()}


def kubernetes_objects() -> list[dict[str, Any]]:
    objects = []
    for path in sorted(KUBERNETES_DIR.glob("*.yaml")):
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return objects


def kubernetes_object(kind: str, name: str) -> dict[str, Any] | None:
    for obj in kubernetes_objects():
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    return None


def worker_statefulset() -> dict[str, Any]:
    found = kubernetes_object("StatefulSet", "dipwatch-worker")
    assert found is not None, "deploy/kubernetes defines no StatefulSet dipwatch-worker"
    return found


def worker_container() -> dict[str, Any]:
    (container,) = [c for c in worker_statefulset()["spec"]["template"]["spec"]["containers"] if c["name"] == "worker"]
    return container


def secret_value(name: str, key: str) -> str:
    secret = kubernetes_object("Secret", name)
    assert secret is not None, f"no Secret {name} in deploy/kubernetes"
    return str(secret.get("stringData", {})[key])


def kubernetes_worker_env() -> dict[str, str]:
    """The worker container's environment, secrets read from the example Secret."""
    env = {}
    for item in worker_container()["env"]:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secret_value(ref["name"], ref["key"])
    return env


def setting_path(variable: str) -> tuple[str, str]:
    """`DIPWATCH_INFLUX__TOKEN` -> ("influx", "token"): the Settings field it sets."""
    section, _, field = variable.removeprefix("DIPWATCH_").lower().partition("__")
    return section, field
