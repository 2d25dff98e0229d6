"""docker-compose.yml (no Docker engine here) agrees with the code it deploys."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.settings import Settings
from pipeline.supervisor import worker_specs

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _queues(argv: list[str] | tuple[str, ...]) -> str | None:
    return argv[argv.index("-Q") + 1] if "-Q" in argv else None


def test_every_worker_kind_has_a_service_with_the_same_queues() -> None:
    services = _compose()["services"]
    compose_queues = {_queues(s["entrypoint"]) for s in services.values() if "entrypoint" in s}
    local = {_queues(spec.argv) for spec in worker_specs(Settings(), Path("var"))}
    assert compose_queues == local
    assert any("beat" in s.get("entrypoint", []) for s in services.values())


def test_environment_names_are_settings() -> None:
    known = {f"SCANGRADE_{name.upper()}" for name in Settings.model_fields}
    for name, service in _compose()["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("SCANGRADE_"):
                assert variable in known, f"{name}: {variable} is not a setting"


def test_services_are_healthy_restarting_and_local_only() -> None:
    services = _compose()["services"]
    for name in ("postgres", "redis", "minio"):
        assert "healthcheck" in services[name]
        assert services[name]["restart"] == "unless-stopped"
    redis_cmd = services["redis"]["command"]
    assert "--appendonly" in redis_cmd and "noeviction" in redis_cmd
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    assert services["simulator"]["profiles"] == ["dry-run"]


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        f"SCANGRADE_{n.upper()}"
        for n in Settings.model_fields
        if f"SCANGRADE_{n.upper()}" not in readme
    ]
    assert missing == []
