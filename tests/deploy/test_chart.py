"""The Helm chart, rendered and linted by Helm's own engine and validated against the
Kubernetes API schemas, for the default values, several stores and production."""

from __future__ import annotations

import json
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from accord.platform.settings import Settings
from tests.factories.helm import (
    CHART,
    VALUES_FILES,
    container_env,
    lint,
    named,
    of_kind,
    pod_specs,
    render,
    secret_values,
    values,
)

#: The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schemas.
KUBERNETES = ["1.27.0", kubernetes_validate.latest_version()]
STORES = {"eu-central", "us-east", "ap-southeast"}


@pytest.mark.parametrize("name", VALUES_FILES)
def test_lint_is_clean(name: str) -> None:
    report = lint(values(name))
    assert report["errors"] == []
    assert report["messages"] == []


@pytest.mark.parametrize("version", KUBERNETES)
@pytest.mark.parametrize("name", VALUES_FILES)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(name: str, version: str) -> None:
    manifests = render(values(name))
    kinds = {m["kind"] for m in manifests}
    assert {"Deployment", "Service", "Job", "CronJob", "ConfigMap", "NetworkPolicy"} <= kinds
    for manifest in manifests:
        # strict: an unknown field (a typo in a template) fails as well as a wrong type.
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_api_is_probed_on_healthz_and_readyz() -> None:
    manifests = render()
    deployment = named(manifests, "Deployment", "accord-api")
    (api,) = deployment["spec"]["template"]["spec"]["containers"]
    assert api["args"] == ["serve"]
    assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = named(manifests, "Service", "accord")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("name", VALUES_FILES)
def test_every_pod_runs_locked_down_with_requests_and_limits(name: str) -> None:
    specs = dict(pod_specs(render(values(name))))
    assert set(specs) == {
        "Deployment/accord-api",
        "Job/accord-migrate",
        "CronJob/accord-sync-scheduler",
        "CronJob/accord-flag-overdue",
        "CronJob/accord-deliver-incidents",
    }
    for where, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        writable = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert "memory" in container["resources"]["limits"], where
            # The only writable places: scratch space and the data directory.
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert {p for p, m in mounts.items() if m["name"] in writable} == {
                "/tmp",
                "/var/lib/accord",
            }, where
            env = {e["name"]: e for e in container["env"]}
            assert env["ACCORD_ENV"]["value"] == "prod", where
            assert env["ACCORD_DATA_DIR"]["value"] == "/var/lib/accord", where


def test_several_stores_get_one_secret_each_and_reach_accords_settings() -> None:
    chart_values = values("stores")
    assert chart_values is not None
    manifests = render(chart_values)
    store_secrets = {
        s["metadata"]["labels"]["accord.io/store"]: s
        for s in of_kind(manifests, "Secret")
        if "accord.io/store" in s["metadata"]["labels"]
    }
    assert set(store_secrets) == STORES
    declared = {s["name"]: s for s in [chart_values["homeStore"], *chart_values["stores"]]}
    for name, secret in store_secrets.items():
        assert secret["metadata"]["name"] == f"accord-store-{name}"
        assert secret["stringData"] == {
            "url": declared[name]["url"],
            "migratorUrl": declared[name]["migrator"]["url"],
        }
    # The API's environment, built as the kubelet builds it, is what Accord's settings read.
    secrets = secret_values(manifests)
    api = named(manifests, "Deployment", "accord-api")["spec"]["template"]["spec"]
    settings = Settings(
        _env_file=None, **_settings_kwargs(container_env(api["containers"][0], secrets))
    )
    assert settings.env == "prod"
    assert settings.home_store == "eu-central"
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == declared["eu-central"]["url"]
    assert {(s.name, s.region, s.url.get_secret_value()) for s in settings.stores} == {
        (n, declared[n]["region"], declared[n]["url"]) for n in ("us-east", "ap-southeast")
    }
    # The migrations Job alone holds the migrator logins.
    job = named(manifests, "Job", "accord-migrate")["spec"]["template"]["spec"]
    migrator = Settings(
        _env_file=None, **_settings_kwargs(container_env(job["containers"][0], secrets))
    )
    assert migrator.database_url is not None
    assert migrator.database_url.get_secret_value() == declared["eu-central"]["migrator"]["url"]
    assert {s.url.get_secret_value() for s in migrator.stores} == {
        declared[n]["migrator"]["url"] for n in ("us-east", "ap-southeast")
    }
    assert "ACCORD_SECRET_KEY" not in {e["name"] for e in job["containers"][0]["env"]}
    # No URL is written into a pod spec: only references to the stores' Secrets.
    rendered = json.dumps([m for m in manifests if m["kind"] != "Secret"])
    assert "staging-only" not in rendered


def _settings_kwargs(env: dict[str, str]) -> dict[str, Any]:
    """Settings from a container's ACCORD_* variables (as the process would read them)."""
    fields = Settings.model_fields
    kwargs: dict[str, Any] = {}
    for name, value in env.items():
        key = name.removeprefix("ACCORD_").lower()
        if name.startswith("ACCORD_") and key in fields:
            kwargs[key] = json.loads(value) if key == "stores" else value
    return kwargs


def test_production_refers_to_the_secrets_it_manages() -> None:
    manifests = render(values("production"))
    # Store URLs and the application's keys come from Secrets managed outside the chart.
    assert of_kind(manifests, "Secret") == []
    api = named(manifests, "Deployment", "accord-api")["spec"]["template"]["spec"]
    refs = {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in api["containers"][0]["env"]
        if "valueFrom" in e
    }
    assert refs == {
        "ACCORD_DATABASE_URL": ("accord-store-eu-central", "url"),
        "ACCORD_STORE_URL_US_EAST": ("accord-store-us-east", "url"),
        "ACCORD_STORE_URL_AP_SOUTHEAST": ("accord-store-ap-southeast", "url"),
        "ACCORD_SECRET_KEY": ("accord-app", "secretKey"),
        "ACCORD_CURSOR_SECRET": ("accord-app", "cursorSecret"),
    }
    hpa = named(manifests, "HorizontalPodAutoscaler", "accord-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "accord-api",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    # The autoscaler owns the replica count; the Deployment does not fight it.
    assert "replicas" not in named(manifests, "Deployment", "accord-api")["spec"]
    assert named(manifests, "PodDisruptionBudget", "accord-api")["spec"]["minAvailable"] == 2
    ingress = named(manifests, "Ingress", "accord")
    assert ingress["spec"]["tls"] == [{"hosts": ["accord.example.com"], "secretName": "accord-tls"}]
    (path,) = ingress["spec"]["rules"][0]["http"]["paths"]
    assert path["path"] == "/graphql"


def test_migrations_run_as_a_hook_before_anything_else() -> None:
    manifests = render(values("stores"))
    job = named(manifests, "Job", "accord-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # The store Secrets the Job reads are hooks of an earlier weight: they exist before it.
    for secret in of_kind(manifests, "Secret"):
        if "accord.io/store" in secret["metadata"]["labels"]:
            hook = secret["metadata"]["annotations"]
            assert hook["helm.sh/hook"] == "pre-install,pre-upgrade"
            assert int(hook["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])


def test_periodic_work_runs_as_cronjobs_that_never_overlap() -> None:
    manifests = render()
    commands = {
        c["metadata"]["name"]: c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][
            0
        ]["args"]
        for c in of_kind(manifests, "CronJob")
    }
    assert commands == {
        "accord-sync-scheduler": ["sync", "scheduler", "--once"],
        "accord-flag-overdue": ["audits", "flag-overdue"],
        "accord-deliver-incidents": ["incidents", "deliver"],
    }
    assert {c["spec"]["concurrencyPolicy"] for c in of_kind(manifests, "CronJob")} == {"Forbid"}
    quiet = render({"jobs": {"flagOverdue": {"enabled": False, "schedule": "15 2 * * *"}}})
    assert {c["metadata"]["name"] for c in of_kind(quiet, "CronJob")} == {
        "accord-sync-scheduler",
        "accord-deliver-incidents",
    }


def test_the_policy_model_configmap_is_the_model_accord_enforces() -> None:
    manifests = render()
    config_map = named(manifests, "ConfigMap", "accord-policy-model")
    packaged = (CHART.parents[1] / "accord" / "policies" / "model.conf").read_text()
    assert config_map["data"]["model.conf"] == packaged.rstrip("\n")
    for _, spec in pod_specs(manifests):
        (container,) = spec["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        if container["args"] == ["migrate"]:
            assert "ACCORD_POLICY_MODEL" not in env
            continue
        mount = next(m for m in container["volumeMounts"] if m["name"] == "policy-model")
        assert env["ACCORD_POLICY_MODEL"] == f"{mount['mountPath']}/model.conf"
        assert mount["readOnly"] is True


def test_network_policies_admit_only_what_each_part_needs() -> None:
    manifests = render(values("production"))
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(manifests, "NetworkPolicy")}
    assert set(policies) == {"accord-api", "accord-jobs", "accord-migrate"}
    api = policies["accord-api"]
    assert api["ingress"] == [
        {
            "ports": [{"port": "http", "protocol": "TCP"}],
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    }
                }
            ],
        }
    ]
    assert policies["accord-jobs"]["ingress"] == policies["accord-migrate"]["ingress"] == []

    def egress_ports(spec: dict[str, Any]) -> set[int]:
        return {p["port"] for rule in spec["egress"] for p in rule["ports"]}

    assert egress_ports(api) == {53, 5432, 443, 4318}
    # Migrations talk to the stores and nothing else.
    assert egress_ports(policies["accord-migrate"]) == {53, 5432}
    store_rule = next(r for r in api["egress"] if r["ports"][0]["port"] == 5432)
    assert [peer["ipBlock"]["cidr"] for peer in store_rule["to"]] == [
        "10.20.0.0/16",
        "10.30.0.0/16",
        "10.40.0.0/16",
    ]


def test_the_app_secret_is_kept_across_upgrades_and_never_deleted() -> None:
    secret = named(render(), "Secret", "accord-app")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert set(secret["data"]) == {"secretKey", "cursorSecret"}


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (
            {"homeStore": {"name": "EU Central", "region": "eu"}},
            ["/homeStore/name", "does not match pattern"],
        ),
        ({"stores": [{"name": "us-east", "region": "us-east"}]}, ["/stores/0", "missing property"]),
        (
            {"stores": [{"name": "us-east", "region": "us-east", "url": "mysql://db/accord"}]},
            ["/stores/0/url", "does not match pattern '^postgresql://'"],
        ),
        (
            {"securityContext": {"readOnlyRootFilesystem": False}},
            ["/securityContext/readOnlyRootFilesystem"],
        ),
        ({"podSecurityContext": {"runAsNonRoot": False}}, ["/podSecurityContext/runAsNonRoot"]),
        ({"api": {"resources": {"limits": {"memory": None}}}}, ["/api/resources/limits", "memory"]),
        ({"replicaCount": 3}, ["additional properties 'replicaCount' not allowed"]),
        ({"jobs": {"flagOverdue": {"schedule": "daily"}}}, ["/jobs/flagOverdue/schedule"]),
    ],
)
def test_values_that_break_the_schema_fail_with_a_clear_message(
    bad: dict[str, Any], expected: list[str]
) -> None:
    with pytest.raises(helm.HelmValuesError) as refused:
        render(bad)
    message = str(refused.value)
    assert "values don't meet the specifications of the schema" in message
    for fragment in expected:
        assert fragment in message
    # helm lint refuses the same values.
    assert lint(bad)["errors"] or any(m["severity"] >= 2 for m in lint(bad)["messages"])


def test_a_store_declared_twice_is_refused() -> None:
    twice = {"stores": [{"name": "home", "region": "elsewhere", "url": "postgresql://db/accord"}]}
    with pytest.raises(helm.HelmRenderError, match="store names must be unique; 'home'"):
        render(twice)
