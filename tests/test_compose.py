"""docker-compose.yml and the Dockerfile say what the distributed mode needs, in settings that
exist. (Running them needs a Docker engine: the Docker suite does that.)"""

from pathlib import Path

import yaml

from kontext_preview.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_compose_runs_redis_with_persistence_api_workers_and_beat() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "api", "beat"} <= services.keys()
    workers = [name for name in services if name.startswith("worker")]
    assert workers
    assert "--appendonly" in services["redis"]["command"]
    assert services["api"]["command"][:2] == ["kontext-preview", "serve"]
    assert services["beat"]["command"] == ["kontext-preview", "beat"]
    known = {f"KONTEXT_{name.upper()}" for name in Settings.model_fields}
    names = set()
    for service in services.values():
        for variable in service.get("environment", {}):
            if variable.startswith("KONTEXT_"):
                assert variable in known, f"{variable} is not a setting"
                names.add(variable)
    for name in workers:
        env = services[name]["environment"]
        assert services[name]["command"] == ["kontext-preview", "worker"]
        assert env["KONTEXT_NODE_NAME"] and env["KONTEXT_NODE_ADDRESS"] == name
        assert env["KONTEXT_MODE"] == "distributed"
    assert services["api"]["ports"] == ["127.0.0.1:8000:8000"]


def test_compose_workers_run_previews_in_containers_of_the_sandbox_image() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    image = services["sandbox-image"]
    assert image["build"]["context"] == "sandbox-images"
    assert (ROOT / "sandbox-images" / "Dockerfile").is_file()
    socket = "/var/run/docker.sock:/var/run/docker.sock"
    for name in (n for n in services if n.startswith("worker")):
        worker = services[name]
        env = worker["environment"]
        assert env["KONTEXT_SANDBOX_BACKEND"] == "docker"
        assert env["KONTEXT_DOCKER_IMAGE"] == image["image"]
        assert socket in worker["volumes"]
        data = env["KONTEXT_DATA_DIR"]
        assert f"{data}:{data}" in worker["volumes"], "the engine mounts host paths"
        assert worker["depends_on"]["sandbox-image"]["condition"] == (
            "service_completed_successfully"
        )
    for name in ("api", "beat", "redis"):
        assert socket not in services[name].get("volumes", []), f"{name} must not drive Docker"


def test_the_image_installs_the_template_without_install_scripts() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "npm ci --ignore-scripts" in dockerfile
    assert "USER kontext" in dockerfile
