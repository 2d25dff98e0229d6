"""docker-compose.yml and the Dockerfile (no Docker engine here) agree with the code they deploy."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from pipeline.adapters.broker import QUEUES
from pipeline.operator.cli.web import serve
from pipeline.runtime import topology
from pipeline.runtime.supervisor import worker_specs
from pipeline.settings import Settings
from simulator.__main__ import build_parser, config_from_args
from simulator.config import DEFAULT_KEYS

ROOT = Path(__file__).resolve().parents[2]


def _dockerfile() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), continuations joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, args = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), " ".join(args.split())))
    return stages


def _stage(name: str) -> list[tuple[str, str]]:
    """The Dockerfile's stage ``FROM ... AS name``."""
    [stage] = [s for s in _dockerfile() if s[0][1].split()[-2:] == ["AS", name]]
    return stage


def _extra(name: str) -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(pyproject["project"]["optional-dependencies"][name])


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _option(argv: list[str] | tuple[str, ...], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def _queues(argv: list[str] | tuple[str, ...]) -> str | None:
    return _option(argv, "-Q")


def _workers() -> dict[str, dict]:
    """Compose's worker services by the queues they consume."""
    services = _compose()["services"].values()
    return {_queues(s["entrypoint"]): s for s in services if "worker" in s.get("entrypoint", [])}


def test_the_compose_workers_are_generated_from_the_topology() -> None:
    """The checked-in file holds what ``python -m pipeline.runtime.topology`` writes, only that."""
    text = (ROOT / "docker-compose.yml").read_text()
    assert topology.rewrite_compose(text, topology.defaults()) == text
    assert text.count(topology.BEGIN) == 1 and text.count(topology.END) == 1
    generated = topology.compose_services(topology.defaults())
    services = _compose()["services"]
    for name, service in generated.items():
        assert services[name]["entrypoint"] == service["entrypoint"], name
        assert services[name].get("deploy", {}).get("replicas", 1) == 1, name
        assert services[name]["environment"]["SCANGRADE_LOG_JSON"] == "true"  # x-scangrade


def test_one_node_per_queue_group_as_the_supervisor_runs_it() -> None:
    """Every queue consumed by exactly one node; compose runs the same argv, -n host aside."""
    settings = Settings(_env_file=None, node_hostname="host-a")
    specs = [s for s in worker_specs(settings) if "worker" in s.argv]
    consumed = [q for spec in specs for q in (_queues(spec.argv) or "").split(",")]
    assert sorted(consumed) == sorted(QUEUES)
    services = _workers()
    assert len(specs) == len(services) == len(topology.NODES)
    for node, spec in zip(topology.NODES, specs, strict=True):
        argv = list(spec.argv)
        assert _option(argv, "-n") == f"{node.name}@host-a"
        assert _option(argv, "-c") == str(node.processes(settings))
        assert _option(argv, "-P") == "prefork" and "--disable-prefetch" in argv
        entry = services[_queues(argv)]["entrypoint"]
        assert argv[argv.index("worker") : argv.index("-l")] == [
            *entry[entry.index("worker") : entry.index("-n") + 1],
            f"{node.name}@host-a",
            *entry[entry.index("-n") + 2 :],
        ]
    assert specs[0].name == "ingest" and _option(specs[0].argv, "--max-tasks-per-child")


def test_concurrency_settings_size_the_pools() -> None:
    settings = Settings(_env_file=None, submit_concurrency=7, persist_concurrency=3)
    by_name = {spec.name: spec.argv for spec in worker_specs(settings)}
    assert _option(by_name["submit"], "-c") == "7"
    assert _option(by_name["persist"], "-c") == "3"
    assert _option(by_name["control"], "-c") == "1"
    assert "beat" in by_name["beat"] and "-n" not in by_name["beat"]


def test_beat_flower_and_the_dry_run_simulator_exist() -> None:
    services = _compose()["services"]
    assert services["beat"]["entrypoint"][:4] == ["celery", "-A", "workers.app", "beat"]
    assert services["beat"]["healthcheck"]["test"][-1].endswith("sys.exit(not beat_led())")
    assert "flower" in services["flower"]["command"]
    assert services["simulator"]["profiles"] == ["dry-run"]


def test_environment_names_are_settings() -> None:
    known = {f"SCANGRADE_{name.upper()}" for name in Settings.model_fields}
    for name, service in _compose()["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("SCANGRADE_"):
                assert variable in known, f"{name}: {variable} is not a setting"


def test_services_are_healthy_restarting_and_local_only() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        if name == "migrate":  # one-shot: the others wait for it to complete
            assert "restart" not in service and "healthcheck" not in service
            continue
        assert service.get("restart") == "unless-stopped", name
        assert service.get("healthcheck", {}).get("test"), name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    for service in _workers().values():
        node = _option(service["entrypoint"], "-n").split("@")[0]
        assert f"inspect ping -d {node}@$$HOSTNAME" in service["healthcheck"]["test"][1]


def test_redis_keeps_every_message() -> None:
    """Append-only, and never evicts a queue to make room (CELERY_NOTES.md, 5)."""
    command = _compose()["services"]["redis"]["command"]
    assert _option(command, "--appendonly") == "yes"
    assert _option(command, "--maxmemory-policy") == "noeviction"
    volumes = _compose()["volumes"]
    for name in ("postgres", "redis", "minio"):
        mounts = _compose()["services"][name]["volumes"]
        assert any(m.split(":")[0] in volumes for m in mounts), name


def test_each_worker_container_serves_its_metrics_inside_the_network() -> None:
    for queues, service in _workers().items():
        env = service["environment"]
        assert env["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/"), queues
        assert env["SCANGRADE_METRICS_HOST"] == "0.0.0.0" and int(env["SCANGRADE_METRICS_PORT"])
        assert not any(env["SCANGRADE_METRICS_PORT"] in p for p in service.get("ports", []))


def test_make_up_starts_the_compose_file() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nup:", 1)[1].split("\n\n", 1)[0]
    assert "$(COMPOSE) up -d" in recipe


def test_make_up_and_down_give_compose_the_web_secret_it_requires(tmp_path: Path) -> None:
    """Without SCANGRADE_WEB_SECRET compose refuses every service: make makes one, once."""
    env = {k: v for k, v in os.environ.items() if k != "SCANGRADE_WEB_SECRET"}
    dry = ["make", "-s", "-C", str(ROOT), "-n", f"WEB_SECRET_FILE={tmp_path}/secret"]
    for target in ("up", "down"):
        shown = subprocess.run([*dry, target], env=env, capture_output=True, text=True, check=True)
        assert 'SCANGRADE_WEB_SECRET="${SCANGRADE_WEB_SECRET:-$(cat ' in shown.stdout, target
        assert f"{tmp_path}/secret" in shown.stdout and "docker compose" in shown.stdout
    made = [
        "make",
        "-s",
        "-C",
        str(ROOT),
        f"{tmp_path}/secret",
        f"WEB_SECRET_FILE={tmp_path}/secret",
    ]
    subprocess.run(made, env=env, check=True)
    secret = (tmp_path / "secret").read_text().strip()
    assert len(secret) >= 32 and (tmp_path / "secret").stat().st_mode & 0o077 == 0


def test_the_readme_explains_scaling_out() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Scaling out", 1)[1].split("\n## ", 1)[0]
    for words in ("replicas", "SCANGRADE_BAIDU_KEYS", "same Postgres", "limiter"):
        assert words in section, words


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        f"SCANGRADE_{n.upper()}"
        for n in Settings.model_fields
        if f"SCANGRADE_{n.upper()}" not in readme
    ]
    assert missing == []


def test_no_service_uses_the_hosts_network() -> None:
    """Host networking would bypass the loopback-only ports: every listener would be public."""
    for name, service in _compose()["services"].items():
        assert service.get("network_mode") != "host", name


def test_the_image_installs_the_wheel_alone_as_a_user() -> None:
    """The image runs what `pip install` of the wheel ships (tests/test_installed.py), not the
    source tree: the migrations come inside the package, and no process runs as root."""
    stages = _dockerfile()
    runs = [args for stage in stages for kind, args in stage if kind == "RUN"]
    assert any("pip wheel" in r or "-m build" in r for r in runs)
    final = _stage("product")
    assert final == stages[-1], "the product is the Dockerfile's default target"
    installs = [args for kind, args in final if kind == "RUN" and "pip install" in args]
    assert installs and all(".whl" in args for args in installs), installs
    assert not any(" -e " in f" {args} " or args.endswith(" .") for args in installs)
    copies = [args for kind, args in final if kind in ("COPY", "ADD")]
    assert all(args.startswith("--from=") for args in copies), copies
    for stage in stages:
        for kind, args in stage:
            if kind in ("COPY", "ADD"):
                assert "migrations" not in args, args
    users = [args for kind, args in final if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert any("useradd" in r for r in runs)
    assert ("ENTRYPOINT", '["scangrade"]') in final


def _copied(stage: list[tuple[str, str]]) -> list[str]:
    """The sources of a stage's COPY/ADD instructions (flags and destination left out)."""
    sources = []
    for kind, args in stage:
        if kind in ("COPY", "ADD"):
            words = [w for w in args.split() if not w.startswith("--")]
            sources += words[:-1]
    return sources


def test_the_product_image_is_the_wheel_without_the_simulator_or_the_dev_kit() -> None:
    """Compose's product services build the product stage, fed only the wheel's sources; the
    simulator's server packages are no dependency of the product."""
    services = _compose()["services"]
    product = [n for n, s in services.items() if s.get("image") == "scangrade:latest"]
    assert {"migrate", "beat", *(f"worker-{node.name}" for node in topology.NODES)} <= set(product)
    for name in product:
        assert services[name]["build"] == {"context": ".", "target": "product"}, name
    assert _copied(_stage("build")) == ["pyproject.toml", "README.md", "pipeline", "workers"]
    for stage in _dockerfile():
        assert not any(source.startswith("devkit") for source in _copied(stage)), stage
    assert "simulator" not in _copied(_stage("build")) + _copied(_stage("product"))
    # The simulator's image installs its extra alone, so the extra names its server packages
    # even though the product (whose web app runs on the same ones) depends on them too.
    simulator = {_name(d) for d in _extra("simulator")}
    assert simulator >= {"starlette", "uvicorn"}, simulator


def _name(requirement: str) -> str:
    return re.split(r"[<>=\[ ]", requirement)[0]


def test_the_web_app_is_part_of_the_product() -> None:
    """What ``scangrade serve`` imports is a dependency of the wheel, not of an extra."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    core = {_name(d) for d in pyproject["project"]["dependencies"]}
    assert {"starlette", "uvicorn", "itsdangerous", "python-multipart", "jinja2"} <= core
    assert "playwright" in {_name(d) for d in _extra("dev")}
    data = pyproject["tool"]["setuptools"]["package-data"]["pipeline.operator.web"]
    web = ROOT / "pipeline" / "operator" / "web"
    assets = [p for folder in ("templates", "static") for p in (web / folder).iterdir()]
    assert assets
    for asset in assets:
        assert any(asset.match(f"web/{pattern}") for pattern in data), asset


def test_the_web_service_runs_serve_on_loopback_with_a_secret_it_must_be_given() -> None:
    web = _compose()["services"]["web"]
    assert web["build"] == {"context": ".", "target": "product"}
    assert web["image"] == "scangrade:latest"
    command = web["command"]
    assert command[0] == "serve"
    params = serve.make_context("serve", list(command[1:])).params
    assert params["host"] == "0.0.0.0"  # inside the container; published on loopback only
    assert web["ports"] == [f"127.0.0.1:{params['port']}:{params['port']}"]
    assert f"127.0.0.1:{params['port']}/login" in " ".join(web["healthcheck"]["test"])
    secret = web["environment"]["SCANGRADE_WEB_SECRET"]
    assert re.fullmatch(r"\$\{SCANGRADE_WEB_SECRET:\?[^}]+\}", secret), secret  # required
    assert (
        web["environment"]["SCANGRADE_DATABASE_URL"]
        == (_compose()["services"]["migrate"]["environment"]["SCANGRADE_DATABASE_URL"])
    )
    assert web["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_make_serve_runs_the_web_app() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nserve:", 1)[1].split("\n\n", 1)[0]
    assert "scangrade serve" in recipe


def test_the_dry_run_simulator_runs_its_own_image() -> None:
    """The simulator stage holds the simulator package and its extra, no product, no root."""
    service = _compose()["services"]["simulator"]
    assert service["build"] == {"context": ".", "target": "simulator"}
    assert service["image"] != "scangrade:latest" and "environment" not in service
    stage = _stage("simulator")
    assert stage[0][1].split()[0] == "python:3.11-slim"  # not FROM the product
    assert "simulator" in _copied(stage)
    assert not {"pipeline", "workers", "devkit"} & {s.split("/")[0] for s in _copied(stage)}
    runs = " ".join(args for kind, args in stage if kind == "RUN")
    assert '["optional-dependencies"]["simulator"]' in runs and "pip install" in runs
    assert ".whl" not in runs and "pip wheel" not in runs
    assert ("ENTRYPOINT", '["python", "-m", "simulator"]') in stage
    users = [args for kind, args in stage if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert any(kind == "ENV" and args.startswith("PYTHONPATH=") for kind, args in stage)


def _interpolated(argv: list[str], env: dict[str, str]) -> list[str]:
    """Compose's ``${NAME:-default}``, as ``docker compose`` substitutes it from ``env``."""
    pattern = re.compile(r"\$\{(\w+):-([^}]*)\}")
    return [pattern.sub(lambda m: env.get(m[1]) or m[2], arg) for arg in argv]


def test_the_dry_run_simulator_accepts_the_workers_keys() -> None:
    """Its flags parse as the simulator's, and accept its demo key and the workers' keys: the
    pair, or the pool (SCANGRADE_BAIDU_KEYS as it is), whichever the workers' settings hold."""
    command = _compose()["services"]["simulator"]["command"]
    known = {f"SCANGRADE_{name.upper()}" for name in Settings.model_fields}
    assert set(re.findall(r"\$\{(\w+)", " ".join(command))) <= known
    pool = '[{"api_key": "pool-a", "secret_key": "sa", "daily_budget": 9}]'
    for env, workers_keys in (
        ({}, {}),
        ({"SCANGRADE_BAIDU_API_KEY": "pair", "SCANGRADE_BAIDU_SECRET_KEY": "ps"}, {"pair": "ps"}),
        ({"SCANGRADE_BAIDU_KEYS": pool}, {"pool-a": "sa"}),
    ):
        config = config_from_args(build_parser().parse_args(_interpolated(command, env)))
        assert (config.host, config.port) == ("0.0.0.0", 8700)
        assert config.keys == DEFAULT_KEYS | workers_keys, env
        with pytest.MonkeyPatch.context() as patch:  # the workers read the same variables
            for name in ("API_KEY", "SECRET_KEY", "KEYS"):
                patch.delenv(f"SCANGRADE_BAIDU_{name}", raising=False)
            for name, value in env.items():
                patch.setenv(name, value)
            keys = Settings(_env_file=None).api_keys()
        accepted = {k.api_key.get_secret_value(): k.secret_key.get_secret_value() for k in keys}
        assert accepted == workers_keys
