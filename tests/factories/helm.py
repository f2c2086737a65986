"""The Helm chart rendered and linted by Helm's own engine (helm-python-sdk binds Helm's Go
SDK; no helm binary, no cluster), its manifests parsed, and the pod specs inside them."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "accord"
#: The values files the chart ships, by the name tests use for them.
VALUES_FILES = {
    "default": None,
    "stores": CHART / "values-stores.yaml",
    "production": CHART / "values-production.yaml",
}

Manifest = dict[str, Any]


def values(name: str) -> dict[str, Any] | None:
    path = VALUES_FILES[name]
    if path is None:
        return None
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def render(
    chart_values: dict[str, Any] | None = None, *, release: str = "accord"
) -> list[Manifest]:
    """Every object the chart renders for an install of ``release`` in namespace accord."""
    with helm.Chart.load(CHART) as chart:
        files = chart.render(chart_values, name=release, namespace="accord", is_install=True)
    manifests: list[Manifest] = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def lint(chart_values: dict[str, Any] | None = None) -> dict[str, Any]:
    report: dict[str, Any] = helm.lint(CHART, chart_values, strict=True, namespace="accord")
    return report


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind/name, pod spec) of every Deployment, Job and CronJob."""
    for m in manifests:
        where = f"{m['kind']}/{m['metadata']['name']}"
        if m["kind"] in ("Deployment", "Job"):
            yield where, m["spec"]["template"]["spec"]
        elif m["kind"] == "CronJob":
            yield where, m["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def container_env(container: dict[str, Any], secrets: dict[tuple[str, str], str]) -> dict[str, str]:
    """The environment a container gets, as the kubelet builds it: ``secretKeyRef`` from
    ``secrets`` ((secret name, key) -> value) and ``$(VAR)`` from variables defined above."""
    env: dict[str, str] = {}
    for item in container["env"]:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[(ref["name"], ref["key"])]
        else:
            env[item["name"]] = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                lambda m: env.get(m.group(1), m.group(0)),
                item["value"],
            )
    return env


def secret_values(manifests: list[Manifest]) -> dict[tuple[str, str], str]:
    """(secret name, key) -> value of every Secret rendered (``data`` decoded)."""
    found: dict[tuple[str, str], str] = {}
    for secret in of_kind(manifests, "Secret"):
        name = secret["metadata"]["name"]
        for key, value in secret.get("stringData", {}).items():
            found[(name, key)] = value
        for key, value in secret.get("data", {}).items():
            found[(name, key)] = base64.b64decode(value).decode()
    return found
