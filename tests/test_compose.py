"""compose.yaml, the Dockerfile and deploy/Caddyfile, read and checked without Docker.

Docker does not run on the machines this is developed on. These tests read the files as
Compose and Docker would (interpolation with the defaults, YAML merge keys, `.dockerignore`),
check them against the settings the app knows and against the README, build the wheel from
exactly what the Dockerfile copies, and run the shell and Python commands the files hold.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from aiohttp.test_utils import TestClient

from triage_hub.settings import Settings, env_names

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
CADDYFILE = ROOT / "deploy" / "Caddyfile"
# Every variable compose.yaml passes is a setting the app knows now (the LLM backends issue
# added the last ones).
COMING: set[str] = set()
ONE_SHOT = {"ollama-pull", "migrate"}
OUR_IMAGE = {"migrate", "app"}

_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)"
)


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `$$`, in every string."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        if op in (":-", "-"):
            unset = name not in env or (op == ":-" and env[name] == "")
            return arg if unset else env[name]
        if op is not None:
            raise AssertionError(f"{op} is not used in compose.yaml: {match.group(0)}")
        return env.get(name, "")

    return _VARIABLE.sub(one, value)


def variables_used(text: str) -> set[str]:
    """Every variable compose.yaml interpolates."""
    return {
        m.group("name") or m.group("bare") for m in _VARIABLE.finditer(text) if m.group(0) != "$$"
    }


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """compose.yaml as `docker compose config` would see it with this environment."""
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # resolves `<<: *app`
    return dict(interpolate(loaded, env or {}))


def service_env(service: dict[str, Any], shell: dict[str, str] | None = None) -> dict[str, str]:
    """A service's environment; a name without a value passes on the shell's, when set."""
    raw = service.get("environment", {})
    assert isinstance(raw, dict), "environment is written as a mapping"
    shell = shell or {}
    resolved = {}
    for name, value in raw.items():
        if value is None:
            if name in shell:
                resolved[name] = shell[name]
        else:
            resolved[name] = str(value)
    return resolved


def readme_section() -> str:
    """The README's section on Docker Compose."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^## Running with Docker Compose\n(.*?)(?=^## )", readme, re.M | re.S)
    assert found, "README has a section '## Running with Docker Compose'"
    return found.group(1)


def vllm_dotenv() -> dict[str, str]:
    """The .env lines the README gives for the vllm profile."""
    blocks = re.findall(r"```dotenv\n(.*?)```", readme_section(), re.S)
    assert len(blocks) == 1, "one ```dotenv block: the vllm profile's .env"
    pairs = (line.split("=", 1) for line in blocks[0].splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def healthcheck_argv(service: dict[str, Any]) -> list[str]:
    """The healthcheck's command as argv (CMD form)."""
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD", f"exec form, no shell needed: {test}"
    return [str(part) for part in test[1:]]


# --- compose.yaml ------------------------------------------------------------------------------


def test_services_and_profiles() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "ollama", "ollama-pull", "migrate", "app", "proxy", "vllm"}
    profiled = {name: s["profiles"] for name, s in services.items() if "profiles" in s}
    assert profiled == {"vllm": ["vllm"]}, "plain `docker compose up` starts all the others"


def test_only_the_proxy_publishes_a_port() -> None:
    services = compose()["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"proxy"}
    assert services["proxy"]["ports"] == ["8080:8080"]
    assert compose({"DESK_PORT": "80"})["services"]["proxy"]["ports"] == ["80:8080"]
    # Replicas: no fixed name, no host port, the same image.
    assert "container_name" not in services["app"]
    assert services["app"]["expose"] == ["8080"]


def test_postgres_current_major_named_volume_and_healthcheck() -> None:
    config = compose()
    postgres = config["services"]["postgres"]
    image, _, tag = postgres["image"].partition(":")
    assert image == "postgres" and int(tag) >= 17, "a supported current major"
    env = service_env(postgres)
    volume, _, target = postgres["volumes"][0].partition(":")
    assert volume in config["volumes"], "a named volume"
    # 18's image keeps its data in /var/lib/postgresql/18/docker and refuses a mount at .../data.
    assert target == ("/var/lib/postgresql" if int(tag) >= 18 else "/var/lib/postgresql/data")
    argv = healthcheck_argv(postgres)
    assert argv[0] == "pg_isready"
    assert f"--username={env['POSTGRES_USER']}" in argv
    assert f"--dbname={env['POSTGRES_DB']}" in argv


def test_ollama_has_a_model_volume_and_a_healthcheck_without_curl() -> None:
    config = compose()
    ollama = config["services"]["ollama"]
    assert ollama["image"].split(":")[0] == "ollama/ollama"
    volume, _, target = ollama["volumes"][0].partition(":")
    assert volume in config["volumes"] and target == "/root/.ollama"
    assert healthcheck_argv(ollama) == ["ollama", "list"]


def test_the_app_waits_for_the_database_and_the_migration_not_for_the_model() -> None:
    services = compose()["services"]
    assert services["app"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["migrate"]["command"] == ["triage-hub", "migrate"]
    assert services["app"]["command"] == ["triage-hub", "serve"]
    # It need not wait for the pull because the default engine triages without the model.
    assert service_env(services["app"])["TRIAGE_ENGINE"] == "auto"
    assert services["ollama-pull"]["depends_on"] == {"ollama": {"condition": "service_healthy"}}
    assert services["proxy"]["depends_on"] == {"app": {"condition": "service_healthy"}}


def test_every_healthy_dependency_has_a_healthcheck() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for target, how in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on an unknown {target}"
            if how["condition"] == "service_healthy":
                check = services[target].get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), target
            if how["condition"] == "service_completed_successfully":
                assert target in ONE_SHOT
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no", f"{name} runs once"
    for name in set(services) - ONE_SHOT:
        assert services[name]["restart"] == "unless-stopped", name
        assert "curl" not in str(services[name].get("healthcheck", {}).get("test"))


def test_the_app_gets_only_settings_it_knows_and_they_are_valid() -> None:
    services = compose()["services"]
    known = set(env_names())
    for name in OUR_IMAGE:
        env = service_env(services[name])
        assert set(env) - known - COMING == set(), f"{name}: unknown variables"
        # Each value as the app parses it: a bad one would stop it at start.
        settings = Settings.model_validate(env)
        assert settings.host == "0.0.0.0" and settings.port == 8080
        assert settings.engine == "auto" and settings.model == "mistral:7b"
    env = service_env(services["app"])
    assert env["OLLAMA_HOST"] == "http://ollama:11434"
    assert env["TRIAGE_LLM_BACKEND"] == "ollama"
    assert env["TRIAGE_LLM_URLS"] == env["OLLAMA_HOST"]
    # Optional secrets pass on only when set: an empty TRIAGE_ADMIN_PASSWORD is too short.
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["app"]["environment"]
    assert raw["TRIAGE_ADMIN_PASSWORD"] is None and raw["TRIAGE_ALLOWED_HOSTS"] is None
    password = "a long enough password"
    shell = {"TRIAGE_ADMIN_PASSWORD": password}
    assert service_env(services["app"], shell)["TRIAGE_ADMIN_PASSWORD"] == password


def test_the_database_url_is_the_postgres_service() -> None:
    services = compose({"POSTGRES_PASSWORD": "s3cret"})["services"]
    postgres = service_env(services["postgres"])
    for name in OUR_IMAGE:
        url = urlsplit(service_env(services[name])["DATABASE_URL"])
        database = f"/{postgres['POSTGRES_DB']}"
        assert (url.hostname, url.port, url.path) == ("postgres", 5432, database)
        assert (url.username, url.password) == (postgres["POSTGRES_USER"], "s3cret")


def test_the_app_trusts_the_proxy_and_only_the_proxy() -> None:
    for env in ({}, {"DESK_SUBNET": "10.77.0.0/24", "DESK_PROXY_IP": "10.77.0.9"}):
        config = compose(env)
        subnet = ipaddress.ip_network(config["networks"]["desk"]["ipam"]["config"][0]["subnet"])
        proxy = ipaddress.ip_address(
            config["services"]["proxy"]["networks"]["desk"]["ipv4_address"]
        )
        assert proxy in subnet
        settings = Settings.model_validate(service_env(config["services"]["app"]))
        assert settings.trusted_proxies == (ipaddress.ip_network(f"{proxy}/32"),)
    for name, service in compose()["services"].items():
        networks = service["networks"]
        assert "desk" in networks, f"{name} is on the desk network"


def test_the_app_runs_read_only_unprivileged_and_stops_gracefully() -> None:
    services = compose()["services"]
    for name in OUR_IMAGE:
        service = services[name]
        assert service["build"] == "." and service["image"] == "triage-hub:local"
        assert service["read_only"] is True
        assert service["tmpfs"] == ["/tmp"]
        assert service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        assert "user" not in service, "the image's USER (not root) applies"
    grace = Settings.model_validate({}).shutdown_grace_seconds
    assert float(services["app"]["stop_grace_period"].removesuffix("s")) > grace
    proxy = services["proxy"]
    assert proxy["read_only"] is True and proxy["cap_drop"] == ["ALL"]


def test_the_app_healthcheck_asks_health_on_its_port() -> None:
    app = compose()["services"]["app"]
    argv = healthcheck_argv(app)
    assert argv[:2] == ["python", "-c"]
    port = service_env(app)["TRIAGE_PORT"]
    assert f"'http://127.0.0.1:{port}/health'" in argv[2]


async def test_the_app_healthcheck_command_works_with_python_alone(
    client: TestClient[Any, Any],
) -> None:
    argv = healthcheck_argv(compose()["services"]["app"])
    code = argv[2].replace(":8080/", f":{client.port}/")
    clean = {"PATH": os.environ["PATH"]}

    def run(source: str) -> subprocess.CompletedProcess[bytes]:
        argv = [sys.executable, "-I", "-c", source]
        return subprocess.run(argv, env=clean, capture_output=True, check=False)

    # In a thread: the app under test answers on this event loop.
    healthy = await asyncio.to_thread(run, code)
    assert healthy.returncode == 0, healthy.stderr
    gone = code.replace(f":{client.port}/", ":9/")  # the discard port: nothing listens
    assert (await asyncio.to_thread(run, gone)).returncode != 0


def fake_ollama_bin(tmp_path: Path) -> Path:
    """A folder with an `ollama` that writes its arguments to ./calls."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "ollama"
    script.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(tmp_path / "calls"))}\n')
    script.chmod(0o755)
    return folder


def run_pull_job(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The ollama-pull service's command, as its container's /bin/sh runs it."""
    pull = compose(env)["services"]["ollama-pull"]
    assert pull["entrypoint"] == ["/bin/sh", "-c"]
    path = f"{fake_ollama_bin(tmp_path)}:{os.environ['PATH']}"
    return subprocess.run(
        ["/bin/sh", "-c", *pull["command"]],
        env={**service_env(pull), "PATH": path},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_pull_job_pulls_the_model_the_app_asks_for(tmp_path: Path) -> None:
    for env in ({}, {"TRIAGE_MODEL": "llama3.2:3b"}):
        (tmp_path / "calls").unlink(missing_ok=True)
        shutil.rmtree(tmp_path / "bin", ignore_errors=True)
        done = run_pull_job(tmp_path, env)
        assert done.returncode == 0, done.stderr
        model = service_env(compose(env)["services"]["app"])["TRIAGE_MODEL"]
        assert (tmp_path / "calls").read_text() == f"pull {model}\n"
        pull_env = service_env(compose(env)["services"]["ollama-pull"])
        app_env = service_env(compose(env)["services"]["app"])
        assert pull_env["OLLAMA_HOST"] == app_env["OLLAMA_HOST"]


def test_the_pull_job_pulls_nothing_when_vllm_serves(tmp_path: Path) -> None:
    done = run_pull_job(tmp_path, vllm_dotenv())
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "calls").exists()


def test_the_vllm_profile_serves_the_apps_model_at_8000_v1() -> None:
    env = vllm_dotenv()
    assert env["COMPOSE_PROFILES"] == "vllm"
    services = compose(env)["services"]
    vllm = services["vllm"]
    assert vllm["image"].split(":")[0] == "vllm/vllm-openai"
    app = service_env(services["app"])
    assert Settings.model_validate(app).model == env["TRIAGE_MODEL"]
    assert app["TRIAGE_LLM_BACKEND"] == "openai"
    url, _, slots = app["TRIAGE_LLM_URLS"].partition("=")
    assert url == "http://vllm:8000/v1" and int(slots) >= 1
    assert f"--model={app['TRIAGE_MODEL']}" in vllm["command"]
    assert "--port=8000" in vllm["command"]
    assert healthcheck_argv(vllm)[:2] == ["python3", "-c"]
    assert "http://127.0.0.1:8000/health" in healthcheck_argv(vllm)[2]
    [gpu] = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert gpu["driver"] == "nvidia" and gpu["capabilities"] == ["gpu"]
    volume = vllm["volumes"][0].partition(":")[0]
    assert volume in compose()["volumes"]


def test_every_named_volume_is_declared_and_used() -> None:
    config = compose()
    used = set()
    for service in config["services"].values():
        for mount in service.get("volumes", []):
            source, _, rest = mount.partition(":")
            if source.startswith("."):
                assert (ROOT / source).exists(), f"bind mount {source} exists"
                assert rest.endswith(":ro"), f"{source} is mounted read-only"
            else:
                used.add(source)
    assert used == set(config["volumes"]) == {"pgdata", "ollama", "huggingface"}


# --- deploy/Caddyfile ----------------------------------------------------------------------------


def test_the_proxy_spreads_over_every_replica_and_streams() -> None:
    services = compose()["services"]
    caddyfile = CADDYFILE.read_text(encoding="utf-8")
    mounted = {m.split(":")[1] for m in services["proxy"]["volumes"]}
    assert "/etc/caddy/Caddyfile" in mounted
    container_port = services["proxy"]["ports"][0].split(":")[-1]
    assert re.search(rf"^:{container_port} \{{", caddyfile, re.M), "listens on the published port"
    # Replicas come and go with --scale: looked up in Docker's DNS, not listed.
    dynamic = re.search(r"dynamic a \{(.*?)\}", caddyfile, re.S)
    assert dynamic, "dynamic A-record upstreams"
    assert re.search(r"^\s*name app$", dynamic.group(1), re.M)
    app_port = service_env(services["app"])["TRIAGE_PORT"]
    assert re.search(rf"^\s*port {app_port}$", dynamic.group(1), re.M)
    assert re.search(r"^\s*refresh \d+s$", dynamic.group(1), re.M)
    # Server-sent events pass event by event: no buffering, no compression.
    assert re.search(r"^\s*flush_interval -1$", caddyfile, re.M)
    directives = [line.split()[0] for line in caddyfile.splitlines() if line.strip()]
    assert "encode" not in directives and "header_up" not in directives
    assert "admin 127.0.0.1:2019" in caddyfile, "the healthcheck's address, inside only"
    assert "2019" in " ".join(healthcheck_argv(services["proxy"]))


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed here")
def test_caddy_accepts_the_caddyfile() -> None:
    done = subprocess.run(
        ["caddy", "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"flush_interval":-1' in done.stdout and '"source":"a"' in done.stdout


# --- Dockerfile --------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments)."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n(\s*#.*\n)*", " ", text)  # continuation lines
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative to the context) out of the context."""
    ignored = False
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def copies(stage: list[tuple[str, str]]) -> list[tuple[list[str], str]]:
    """The stage's COPY instructions from the build context: (sources, destination)."""
    found = []
    for instruction, arguments in stage:
        words = arguments.split()
        if instruction == "COPY" and not any(w.startswith("--from") for w in words):
            *sources, destination = [w for w in words if not w.startswith("--")]
            found.append((sources, destination))
    return found


def test_the_image_runs_serve_as_a_user_that_is_not_root() -> None:
    stages = dockerfile_stages()
    final = dict(stages[-1])
    assert stages[-1][0] == ("FROM", "python:3.11-slim")
    user = final["USER"].split(":")[0]
    assert user not in ("root", "0") and int(user) > 0
    assert final["CMD"] == '["triage-hub", "serve"]'
    assert "curl" not in final["HEALTHCHECK"] and "/health" in final["HEALTHCHECK"]
    assert "urllib.request.urlopen('http://127.0.0.1:8080/health'" in final["HEALTHCHECK"]
    env = dict(re.findall(r"(\w+)=(\S+)", final["ENV"]))
    triage = {name for name in env if name.startswith(("TRIAGE_", "DATABASE_", "OLLAMA_"))}
    assert triage <= set(env_names())
    assert "VOLUME" not in final, "no anonymous volume per replica"


def test_the_image_copies_what_the_package_needs_and_the_context_has_it() -> None:
    stages = dockerfile_stages()
    copied: list[Path] = []
    for sources, _ in copies(stages[0]):
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not dockerignored(source), f".dockerignore leaves out {source}"
            copied.append((ROOT / source).resolve())
    # Every symlink of the package (schema.sql, the built-in engine's data) points at a
    # copied file, or pip would build a wheel without it.
    for link in (ROOT / "triage_hub").rglob("*"):
        if link.is_symlink():
            target = link.resolve()
            assert any(target == c or c in target.parents for c in copied), link
    # pyproject's package-data, every pattern of which must find files in the image.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    data = re.search(r"\[tool\.setuptools\.package-data\]\ntriage_hub = \[(.*?)\]", pyproject, re.S)
    assert data
    for pattern in re.findall(r'"([^"]+)"', data.group(1)):
        matches = [p for p in (ROOT / "triage_hub").glob(pattern) if p.is_file()]
        assert matches, pattern


def test_the_build_context_makes_a_wheel_with_the_data(tmp_path: Path) -> None:
    """What the first stage does, on a copy of exactly what its COPY lines bring in."""
    stages = dockerfile_stages()
    workdir = tmp_path / "src"
    workdir.mkdir()

    def ignore(folder: str, names: list[str]) -> list[str]:
        relative = Path(folder).relative_to(ROOT)
        return [n for n in names if dockerignored(str(relative / n).removeprefix("./"))]

    for sources, destination in copies(stages[0]):
        into = workdir / destination.removeprefix("./")
        for source in sources:
            path = ROOT / source
            if path.is_dir():  # Docker copies the folder's contents, symlinks as they are
                shutil.copytree(path, into, symlinks=True, ignore=ignore, dirs_exist_ok=True)
            else:
                target = into / path.name if destination.endswith("/") else into
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    [run] = [arguments for instruction, arguments in stages[0] if instruction == "RUN"]
    assert run == "pip wheel --no-deps --wheel-dir /wheels ."
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--wheel-dir", str(tmp_path / "wheels"), str(workdir)),
        ],
        check=True,
    )
    [wheel] = (tmp_path / "wheels").glob("triage_hub-*.whl")
    archive = zipfile.ZipFile(wheel)
    for name in ("dev.jsonl", "heldout.jsonl", "train2.jsonl", "train3.jsonl"):
        shipped = archive.read(f"triage_hub/engines/builtin/{name}")
        assert shipped == (ROOT / "evals" / name).read_bytes()
    assert archive.read("triage_hub/schema.sql") == (ROOT / "schema.sql").read_bytes()
    names = archive.namelist()
    assert any(fnmatch.fnmatch(n, "triage_hub/templates/*.html") for n in names)
    assert any(n.startswith("triage_hub/static/") for n in names)
    assert not any("__pycache__" in n for n in names)


# --- README ------------------------------------------------------------------------------------


def test_the_readme_documents_the_compose_commands_and_variables() -> None:
    section = readme_section()
    for command in (
        "docker compose up",
        "docker compose up --scale app=3",
        "docker compose logs app",
        "docker compose exec app triage-hub agent add",
        "docker compose down",
    ):
        assert command in section, command
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))
    used = variables_used(COMPOSE.read_text(encoding="utf-8"))
    assert used - documented == set(), "every variable compose.yaml reads is in the README"
    assert set(vllm_dotenv()) <= documented
    # Plainly: what was and was not run here.
    assert "not run" in section and "tests/test_compose.py" in section
