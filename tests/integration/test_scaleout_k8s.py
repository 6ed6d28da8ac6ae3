"""deploy/k8s: every manifest passes the Kubernetes schema (kubernetes-validate, strict), the
pieces fit together (Service names, ports, Secret, ConfigMap = locustfiles/), and the
commands they run parse with loadgen's own CLI."""

from __future__ import annotations

import copy
import shlex
from pathlib import Path
from typing import Any

import click
import kubernetes_validate
import pytest
import yaml

from loadgen.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUEUE_LABEL = "kueue.x-k8s.io/queue-name"


def _docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _one(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in _docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = container
    return result


def test_every_manifest_passes_the_kubernetes_schema_strictly() -> None:
    docs = _docs()
    assert len(docs) >= 9
    version = kubernetes_validate.latest_version()
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    broken = copy.deepcopy(_one("Deployment", "loadgen-worker"))
    _container(broken)["replica"] = 3  # unknown field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_workers_reach_the_master_service() -> None:
    service = _one("Service", "loadgen-master")
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    master = _one("Deployment", "loadgen-master")
    assert service["spec"]["selector"] == master["spec"]["selector"]["matchLabels"]
    args = _container(_one("Deployment", "loadgen-worker"))["args"]
    host = args[args.index("--master-host") + 1]
    assert host.startswith(f"{service['metadata']['name']}.{service['metadata']['namespace']}.")
    assert int(args[args.index("--master-port") + 1]) == ports["workers"]
    master_args = _container(master)["args"]
    assert int(master_args[master_args.index("--master-bind-port") + 1]) == ports["workers"]
    assert master["spec"]["replicas"] == 1


def test_locustfiles_configmap_equals_the_repository_files() -> None:
    data = _one("ConfigMap", "loadgen-locustfiles")["data"]
    files = sorted((ROOT / "locustfiles").glob("*.py"))
    assert files
    for path in files:
        assert data[path.name] == path.read_text(), f"regenerate {path.name} in locustfiles.yaml"
    for name in ("loadgen-master", "loadgen-worker"):
        args = _container(_one("Deployment", name))["args"]
        for path in args[args.index("-f") + 1].split(","):
            assert Path(path).name in data


def test_every_workload_reads_influxdb_from_the_secret() -> None:
    secret = _one("Secret", "loadgen-influxdb")
    assert "INFLUX_URL" in secret["stringData"]
    workloads = [d for d in _docs() if d["kind"] in ("Deployment", "Job", "DaemonSet")]
    assert len(workloads) == 4
    for doc in workloads:
        refs = [e.get("secretRef", {}).get("name") for e in _container(doc)["envFrom"]]
        assert secret["metadata"]["name"] in refs, doc["metadata"]["name"]


def test_job_is_headless_and_queued_by_kueue() -> None:
    job = _one("Job", "loadgen-run")
    assert job["metadata"]["labels"][KUEUE_LABEL]
    assert job["spec"]["suspend"] is True and job["spec"]["backoffLimit"] == 0
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert _container(job)["resources"]["requests"]["cpu"]  # Kueue admits by requests


def test_gpu_sidecar_daemonset_sees_host_processes_on_gpu_nodes_only() -> None:
    spec = _one("DaemonSet", "loadgen-sidecar")["spec"]["template"]["spec"]
    assert spec["hostPID"] is True
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])


@pytest.mark.parametrize(
    ("kind", "name"), [("Job", "loadgen-run"), ("DaemonSet", "loadgen-sidecar")]
)
def test_loadgen_commands_in_manifests_parse(kind: str, name: str) -> None:
    container = _container(_one(kind, name))
    command, args = container["command"], container["args"]
    assert command[0] == "loadgen" and command[1] in COMMANDS
    sub = main.get_command(click.Context(main), command[1])
    assert sub is not None
    ctx = sub.make_context(command[1], [a.replace("$(", "").replace(")", "") for a in args])
    assert ctx.params, shlex.join(args)


def test_kustomization_lists_every_long_lived_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "job.yaml"}
    assert listed == on_disk  # the Job is created per run: kubectl create -f job.yaml
