#!/usr/bin/env bash
# Audit what the image ships (uv.lock without dev tools) for known vulnerabilities.
#
# Fails closed: --strict turns every package that could not be checked (vulnerability service
# unreachable, package unknown to it) into a failure, because without it pip-audit reports
# "No known vulnerabilities found" and exits 0 when it checked nothing. Needs the network to the
# vulnerability database (PyPI's JSON API or OSV); it cannot run on an offline machine.
#
# Known, accepted vulnerabilities: add `--ignore-vuln ID` below AND name each one, with the
# reason, in docs/production.md ("Vulnerability audit"). Usage: bash docker/audit-lock.sh
set -euo pipefail
cd "$(dirname "$0")/.."

UV="${UV:-$(command -v uv || echo .tools/bin/uv)}"
PIP_AUDIT="${PIP_AUDIT:-$(command -v pip-audit || echo .venv/bin/pip-audit)}"
SERVICE="${AUDIT_SERVICE:-osv}"

requirements="$(mktemp)"
trap 'rm -f "$requirements"' EXIT
"$UV" export --frozen --no-dev --no-hashes --no-emit-project --format requirements-txt \
    --output-file "$requirements" >/dev/null

"$PIP_AUDIT" --requirement "$requirements" --no-deps --disable-pip --strict \
    --vulnerability-service "$SERVICE" --progress-spinner off --desc on
