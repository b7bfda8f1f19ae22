"""Dockerfile, docker-compose.yml and .env.example, checked against the CLI and the settings.

No Docker engine runs here: the files are parsed and every command, variable and dependency
they name is checked against what the code really has.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from sqlalchemy.engine import make_url

from bot.body_limit import MAX_BODY_BYTES
from bot.cli import app
from bot.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]

# Commands the deployment files already use, to be built by later issues. When one lands,
# test_planned_commands_are_exactly_the_missing_ones fails until it is taken off this list, and
# from then on its options are checked like every other command's.
PLANNED = {}
ENTRYPOINT = ["phonebank"]
INTERPOLATION = re.compile(r"\$\{(\w+)(?:[:?-][^}]*)?\}")
SETTINGS_VARIABLES = {name.upper() for name in Settings.model_fields}


# --- the files --------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def phonebank_services() -> dict[str, dict[str, Any]]:
    """The services that run our image (built from the Dockerfile)."""
    return {name: spec for name, spec in services().items() if "build" in spec}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in logical.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def dockerfile_exec_form(instruction: str) -> list[str]:
    (arguments,) = [args for name, args in final_stage() if name == instruction]
    return json.loads(arguments)


def env_example() -> list[tuple[str, str, str]]:
    """(variable, value, the line above it) for each assignment in .env.example."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    assignments = []
    for index, line in enumerate(lines):
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            above = lines[index - 1] if index else ""
            assignments.append((match[1], match[2], above))
    return assignments


def commands_in_deployment() -> dict[str, list[str]]:
    """Where each `phonebank` command line comes from -> its arguments."""
    lines = {
        f"compose service {name}": spec["command"] for name, spec in phonebank_services().items()
    }
    lines["Dockerfile CMD"] = dockerfile_exec_form("CMD")
    return lines


# --- the CLI's command tree -----------------------------------------------------------------


def cli_root() -> Any:
    return typer.main.get_command(app)


def subcommands(command: Any) -> dict[str, Any]:
    return dict(getattr(command, "commands", {}))


def check_command_line(arguments: list[str]) -> None:
    """Walk `phonebank ARGS` down the command groups, then let the leaf parse its options."""
    command, path, rest = cli_root(), ["phonebank"], list(arguments)
    while subcommands(command):
        assert rest, f"`{' '.join(path)}` is a group, not a command"
        name = rest.pop(0)
        assert name in subcommands(command), f"`{' '.join(path)} {name}`: no such command"
        path.append(name)
        command = subcommands(command)[name]
    command.make_context(" ".join(path), rest)  # raises on an unknown option or argument


# --- commands ---------------------------------------------------------------------------------


def test_planned_commands_are_exactly_the_missing_ones() -> None:
    used = {arguments[0] for arguments in commands_in_deployment().values()}
    missing = used - set(subcommands(cli_root()))
    assert missing == set(PLANNED), (
        f"used but not in the CLI: {sorted(missing)}; planned: {sorted(PLANNED)}"
    )


@pytest.mark.parametrize("source", sorted(commands_in_deployment()))
def test_command_line_is_a_real_phonebank_command(source: str) -> None:
    arguments = commands_in_deployment()[source]
    assert isinstance(arguments, list), f"{source}: use the exec form, a list"
    if arguments[0] in PLANNED:
        assert arguments[0] not in subcommands(cli_root())
        return
    check_command_line(arguments)


def test_the_check_rejects_an_unknown_option() -> None:
    with pytest.raises(Exception, match="--no-such-option"):
        check_command_line(["db", "upgrade", "--no-such-option"])


def test_the_check_rejects_a_bare_group() -> None:
    with pytest.raises(AssertionError, match="is a group"):
        check_command_line(["db"])


def test_the_check_rejects_an_unknown_subcommand() -> None:
    with pytest.raises(AssertionError, match="`phonebank db migrate`: no such command"):
        check_command_line(["db", "migrate"])


def test_entrypoint_is_the_console_script() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert dockerfile_exec_form("ENTRYPOINT") == ENTRYPOINT
    assert ENTRYPOINT[0] in pyproject["project"]["scripts"]
    for name, spec in phonebank_services().items():
        assert "entrypoint" not in spec, f"{name} must keep the image's entrypoint"


# --- images -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(services()))
def test_every_service_has_an_image_or_a_build(name: str) -> None:
    spec = services()[name]
    if "build" in spec:
        assert spec["build"] == ".", f"{name} builds the repository's Dockerfile"
        assert spec["image"].startswith("phonebank")
        return
    image = spec["image"]
    assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image!r} to a version"


def test_dockerfile_runs_python_311_slim_as_a_user() -> None:
    stage = final_stage()
    assert stage[0] == ("FROM", "python:3.11-slim")
    users = [args for name, args in stage if name == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"


def test_secrets_and_local_databases_stay_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", "*.db"} <= set(ignored)


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(phonebank_services()))
def test_phonebank_service_settings(name: str) -> None:
    spec = phonebank_services()[name]
    assert spec["env_file"] == ".env"
    unknown = set(spec.get("environment", {})) - SETTINGS_VARIABLES
    assert not unknown, f"{name} sets {sorted(unknown)}, which bot.settings.Settings does not read"


def test_postgres_service_sets_only_postgres_variables() -> None:
    postgres = services()["postgres"]
    assert "env_file" not in postgres, "the database container gets no app secrets"
    assert all(variable.startswith("POSTGRES_") for variable in postgres["environment"])


def test_database_url_points_at_the_postgres_service() -> None:
    postgres_env = services()["postgres"]["environment"]
    for name, spec in phonebank_services().items():
        raw = INTERPOLATION.sub("secret", spec["environment"]["DATABASE_URL"])
        url = make_url(raw)
        assert url.get_backend_name() == "postgresql", name
        assert url.host == "postgres" and url.host in services()
        assert url.username == postgres_env["POSTGRES_USER"]
        assert url.database == postgres_env["POSTGRES_DB"]
        load_settings(database_url=raw)


def test_interpolated_variables_are_in_env_example() -> None:
    used = set(INTERPOLATION.findall((ROOT / "docker-compose.yml").read_text()))
    listed = {variable for variable, _, _ in env_example()}
    assert used <= listed


def test_env_example_lists_every_setting_with_a_comment() -> None:
    assignments = env_example()
    listed = [variable for variable, _, _ in assignments]
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    missing = SETTINGS_VARIABLES - set(listed)
    assert not missing, f".env.example does not list {sorted(missing)}"
    extra = {v for v in listed if v not in SETTINGS_VARIABLES and not v.startswith("POSTGRES_")}
    assert not extra, f".env.example lists {sorted(extra)}, which nothing reads"
    for variable, _, above in assignments:
        assert above.startswith("#"), f"{variable} has no comment above it"


def test_env_example_as_given_is_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in SETTINGS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)

    from_example = load_settings(_env_file=ROOT / ".env.example")

    assert from_example == load_settings()


# --- the layout -------------------------------------------------------------------------------


def test_postgres_reports_its_health() -> None:
    assert "pg_isready" in " ".join(services()["postgres"]["healthcheck"]["test"])


def test_migrate_runs_once_after_postgres_is_healthy() -> None:
    migrate = services()["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}


@pytest.mark.parametrize("name", sorted(set(phonebank_services()) - {"migrate"}))
def test_services_start_after_a_successful_migration(name: str) -> None:
    depends_on = services()[name]["depends_on"]
    assert depends_on["migrate"] == {"condition": "service_completed_successfully"}
    assert depends_on["postgres"] == {"condition": "service_healthy"}


def _replicas(name: str) -> int:
    return int(services()[name].get("deploy", {}).get("replicas", 1))


def test_web_runs_several_replicas_and_the_gateway_and_scheduler_one() -> None:
    assert _replicas("web") > 1
    assert _replicas("discord") == 1  # a second gateway connection would answer everything twice
    assert _replicas("scheduler") == 1


def test_web_port_agrees_with_its_healthcheck_and_the_load_balancer() -> None:
    command = services()["web"]["command"]
    port = command[command.index("--port") + 1]
    healthcheck = " ".join(services()["web"]["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/readyz" in healthcheck
    caddyfile = compose()["configs"]["caddyfile"]["content"]
    assert re.search(rf"dynamic a web {port}\b", caddyfile)
    assert services()["lb"]["configs"][0]["source"] == "caddyfile"


def test_the_load_balancer_caps_bodies_as_the_app_does() -> None:
    caddyfile = compose()["configs"]["caddyfile"]["content"]
    found = re.search(r"request_body\s*\{\s*max_size\s+(\d+)MiB\s*\}", caddyfile)
    assert found, "the Caddyfile sets no request_body max_size"
    assert int(found.group(1)) * 1024 * 1024 == MAX_BODY_BYTES


# --- the lock file ----------------------------------------------------------------------------

LOCK = ROOT / "requirements.lock"


def locked() -> dict[str, tuple[Version, Marker | None, list[str]]]:
    """requirements.lock: name -> (pinned version, marker, hashes)."""
    logical = re.sub(r"\\\n", " ", LOCK.read_text())
    found = {}
    for line in logical.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement = Requirement(line.split(" --hash")[0].strip())
        (pin,) = requirement.specifier
        assert pin.operator == "==", f"{requirement.name} is not pinned"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
        found[canonicalize_name(requirement.name)] = (
            Version(pin.version),
            requirement.marker,
            hashes,
        )
    return found


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]]


IMAGE = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}


def test_the_lock_pins_every_dependency_within_its_range_with_hashes() -> None:
    pins = locked()
    for requirement in declared():
        if requirement.marker is not None and not requirement.marker.evaluate(IMAGE):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is missing from requirements.lock: re-lock"
        version, _, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside {requirement.specifier}: re-lock"
        )
    assert all(hashes for _, _, hashes in pins.values()), "every pin needs its hashes"


def test_the_lock_holds_no_release_below_the_security_floors() -> None:
    floors = {"starlette": "1.3.1", "jinja2": "3.1.6", "aiohttp": "3.14.4"}
    pins = locked()
    assert all(pins[name][0] >= Version(floor) for name, floor in floors.items())
    by_name = {canonicalize_name(r.name): r.specifier for r in declared()}
    for name, floor in floors.items():  # and pyproject admits none either
        assert not by_name[name].contains(_below(floor))


def _below(version: str) -> str:
    """A release just under `version` (its last part one less)."""
    parts = [int(part) for part in version.split(".")]
    parts[-1] -= 1
    return ".".join(str(part) for part in parts)


def test_the_image_installs_only_from_the_lock_with_hashes() -> None:
    runs = [args for name, args in final_stage() if name == "RUN"]
    installs = [run for run in runs if "pip install" in run]
    assert any(
        "source=requirements.lock" in run
        and "--require-hashes" in run
        and "-r /tmp/requirements.lock" in run
        for run in installs
    ), "the image must install requirements.lock with --require-hashes"
    assert all("--require-hashes" in run or "--no-deps" in run for run in installs), (
        "an install without --no-deps would pull unpinned dependencies"
    )
