"""Offline audit of ``uv.lock`` against a dated snapshot of the Safety DB (``insecure.json``).

Why it exists: our build machines cannot reach a vulnerability service, so ``pip-audit``
(``docker/audit-lock.sh``) runs only where the network exists. This check needs two files and
nothing else: the lock, and a snapshot mapping each package to the PEP 440 ranges under which a
known vulnerability applies. It is only as current as the snapshot: an advisory published after
the snapshot's date is invisible here, which is why the summary says how old the snapshot is.

Rules, for every locked version that falls inside one of its package's ranges:

* the range has an upper bound (a clause with ``<``, ``<=``, ``==``, ``===`` or ``~=``): a fixed
  release exists, so the hit fails the audit until the package is upgraded;
* the range has no upper bound (only ``>``, ``>=``, ``!=``; e.g. ``>0``): there is nothing to
  upgrade to, so the hit is accepted only when the security doc (``docs/security.md``) names the
  package, which is where the risk and its mitigation are written down;
* a range that ``packaging`` cannot parse is counted and reported; when it belongs to a locked
  package that package could not be fully checked, and the audit fails (fail closed, like
  ``pip-audit --strict``).

Usage::

    python -m devtools.audit_lock [--lock uv.lock] [--advisories PATH] [--security-doc PATH]

Exit status: 0 clean, 1 findings (each printed as a ``FAIL:`` line), 2 an input file is missing
or unreadable (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

#: The checkout this module lives in (``devtools/`` is at its top level).
REPO_ROOT = Path(__file__).resolve().parent.parent

#: Environment variable naming the advisory snapshot (overrides the default beside the checkout).
ADVISORIES_ENV = "MERCATO_ADVISORIES"

#: Operators that bound a range from above: a version past the range exists, i.e. a fixed release.
UPPER_BOUND_OPERATORS = frozenset({"<", "<=", "==", "===", "~="})

_NAME_SEPARATORS = re.compile(r"[-_.]+")


class InputError(Exception):
    """An input file is missing or cannot be parsed: the audit cannot run (exit status 2)."""


def normalize_name(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-``, ``_`` and ``.`` become one ``-``.

    Applied to both the lock and the snapshot, whose keys are not all normalised
    (``glance_store``, ``collective.task``), so that ``Foo_Bar`` and ``foo-bar`` meet.
    """
    return _NAME_SEPARATORS.sub("-", name).lower()


def default_advisories_path() -> Path:
    """``$MERCATO_ADVISORIES``, or the shared data folder beside the checkout."""
    configured = os.environ.get(ADVISORIES_ENV)
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "data" / "advisories" / "insecure.json"


@dataclass(frozen=True)
class LockedPackage:
    """One ``[[package]]`` of the lock that has a released version."""

    name: str  #: normalised (PEP 503)
    version: str
    #: earliest upload time of its files, when the lock records one (to compare with the snapshot)
    released: datetime | None = None


@dataclass(frozen=True)
class Hit:
    """A locked version inside an advisory range."""

    package: str
    version: str
    specifier: str
    fixed_release: bool  #: True when the range has an upper bound (a fixed release exists)


@dataclass(frozen=True)
class InvalidRange:
    """An advisory entry that is not a valid PEP 440 specifier set (reported, never fatal)."""

    package: str
    text: str


@dataclass
class Snapshot:
    """The advisory snapshot, parsed once: normalised name -> (original text, specifier set)."""

    ranges: dict[str, list[tuple[str, SpecifierSet]]]
    invalid: list[InvalidRange]
    n_packages: int
    taken_at: datetime | None

    @property
    def n_ranges(self) -> int:
        """Number of valid ranges across all packages."""
        return sum(len(v) for v in self.ranges.values())


@dataclass
class AuditResult:
    """What :func:`audit` found."""

    checked: list[LockedPackage]
    hits: list[Hit] = field(default_factory=list)
    #: invalid ranges of packages that are locked: those packages were not fully checked
    unchecked: list[InvalidRange] = field(default_factory=list)
    #: locked versions that are not PEP 440 although their package has advisories
    bad_versions: list[LockedPackage] = field(default_factory=list)


def _parse_time(value: Any) -> datetime | None:
    """An ``upload-time`` of the lock (ISO 8601, ``Z`` suffix) as an aware datetime."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _earliest_upload(entry: dict[str, Any]) -> datetime | None:
    """When a locked version was first published, from its sdist and wheel upload times."""
    files: list[Any] = [entry.get("sdist"), *(entry.get("wheels") or [])]
    times = [_parse_time(f.get("upload-time")) for f in files if isinstance(f, dict)]
    known = [t for t in times if t is not None]
    return min(known) if known else None


def read_lock(path: Path) -> list[LockedPackage]:
    """Every released ``[[package]]`` of a uv lock file, deduplicated by (name, version).

    Entries without a version, and editable or virtual sources (the project itself, workspace
    members), are skipped: they are our code, not something an advisory can name.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"lock file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read lock file {path}: {exc}") from None
    entries = data.get("package", [])
    if not isinstance(entries, list):
        raise InputError(f"lock file {path} has no [[package]] list")
    seen: set[tuple[str, str]] = set()
    locked: list[LockedPackage] = []
    for entry in entries:
        if not isinstance(entry, dict) or "name" not in entry or "version" not in entry:
            continue
        source = entry.get("source")
        if isinstance(source, dict) and ("editable" in source or "virtual" in source):
            continue
        key = (normalize_name(str(entry["name"])), str(entry["version"]))
        if key in seen:
            continue
        seen.add(key)
        locked.append(LockedPackage(*key, released=_earliest_upload(entry)))
    return locked


def read_advisories(path: Path) -> Snapshot:
    """Parse the Safety DB snapshot: ``{package: [specifier, ...], "$meta": {...}}``.

    Keys starting with ``$`` are metadata. A value that is not a list of strings, or a string
    that is not a valid specifier set, becomes an :class:`InvalidRange` instead of an error:
    one bad entry among ten thousand must not stop the audit.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"advisory snapshot not found: {path} (set {ADVISORIES_ENV} or pass --advisories)"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read advisory snapshot {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise InputError(f"advisory snapshot {path} is not a JSON object")

    meta = raw.get("$meta")
    stamp = meta.get("timestamp") if isinstance(meta, dict) else None
    taken_at = (
        datetime.fromtimestamp(stamp, UTC)
        if isinstance(stamp, int | float) and not isinstance(stamp, bool)
        else None
    )

    ranges: dict[str, list[tuple[str, SpecifierSet]]] = {}
    invalid: list[InvalidRange] = []
    n_packages = 0
    for key, value in raw.items():
        if key.startswith("$"):
            continue
        n_packages += 1
        name = normalize_name(key)
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            invalid.append(InvalidRange(name, repr(value)))
            continue
        for item in items:
            if not isinstance(item, str):
                invalid.append(InvalidRange(name, repr(item)))
                continue
            try:
                spec = SpecifierSet(item, prereleases=True)
            except InvalidSpecifier:
                invalid.append(InvalidRange(name, item))
                continue
            ranges.setdefault(name, []).append((item, spec))
    return Snapshot(ranges=ranges, invalid=invalid, n_packages=n_packages, taken_at=taken_at)


def has_upper_bound(spec: SpecifierSet) -> bool:
    """Whether versions past the range exist, i.e. the advisory has a fixed release.

    ``<2.0``, ``<=1.9``, ``==1.4.*``, ``~=1.4`` and ``>=1.0,<1.2`` are bounded; ``>0``,
    ``>=1.1.0`` and ``!=1.3`` are not (every future release is still inside them). An empty
    set matches every version and is therefore open-ended too.
    """
    return any(clause.operator in UPPER_BOUND_OPERATORS for clause in spec)


def audit(locked: Iterable[LockedPackage], snapshot: Snapshot) -> AuditResult:
    """Test every locked version against every range of its package (pre-releases included)."""
    result = AuditResult(checked=list(locked))
    names = {p.name for p in result.checked}
    result.unchecked = [r for r in snapshot.invalid if r.package in names]
    for pkg in result.checked:
        entries = snapshot.ranges.get(pkg.name)
        if not entries:
            continue
        try:
            version = Version(pkg.version)
        except InvalidVersion:
            result.bad_versions.append(pkg)
            continue
        for text, spec in entries:
            if spec.contains(version, prereleases=True):
                result.hits.append(Hit(pkg.name, pkg.version, text, has_upper_bound(spec)))
    return result


def mentions(text: str, package: str) -> bool:
    """Whether ``text`` names ``package`` as a word (``MLflow``, ``great_expectations``...).

    The parts of the normalised name may be joined by ``-``, ``_``, ``.`` or a space; a longer
    name that merely contains it (``mlflow-skinny`` for ``mlflow``) does not count.
    """
    parts = [re.escape(p) for p in package.split("-")]
    pattern = r"(?<![\w.-])" + r"[-_. ]".join(parts) + r"(?![\w-])"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def _display(path: Path) -> str:
    """``path`` relative to the checkout when it lies inside it (shorter, stable messages)."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _packages(hits: Iterable[Hit]) -> list[str]:
    """Sorted distinct package names of ``hits``."""
    return sorted({h.package for h in hits})


def report(
    result: AuditResult,
    snapshot: Snapshot,
    doc_text: str | None,
    doc_name: str,
    now: datetime | None = None,
) -> tuple[list[str], list[str]]:
    """(lines for stdout, ``FAIL:`` lines) for an audit result; no failures means exit 0.

    ``doc_text`` is the security doc's content, ``None`` when the file does not exist.
    """
    text = doc_text or ""
    fixed = [h for h in result.hits if h.fixed_release]
    open_hits = [h for h in result.hits if not h.fixed_release]
    open_pkgs = _packages(open_hits)
    documented = [p for p in open_pkgs if mentions(text, p)]
    undocumented = [p for p in open_pkgs if p not in documented]

    when = snapshot.taken_at.date().isoformat() if snapshot.taken_at else "of unknown date"
    detail = []
    if documented:
        detail.append(f"{', '.join(documented)}: documented in {doc_name}")
    if undocumented:
        missing = "missing" if doc_text is None else "not mentioned"
        detail.append(f"{', '.join(undocumented)}: {missing} in {doc_name}")
    without = f"{len(open_pkgs)} without" + (f" ({'; '.join(detail)})" if detail else "")
    out = [
        f"audit: {len(result.checked)} locked packages checked against "
        f"{snapshot.n_packages:,} advisory entries (snapshot {when}): "
        f"{len(_packages(fixed))} with a fixed release, {without}"
    ]

    width_pkg = max((len(h.package) for h in result.hits), default=0)
    width_ver = max((len(h.version) for h in result.hits), default=0)
    width_spec = max((len(h.specifier) for h in result.hits), default=0)
    for h in sorted(result.hits, key=lambda h: (not h.fixed_release, h.package, h.specifier)):
        if h.fixed_release:
            label = "fixed release exists"
        else:
            label = "no fixed release" + (
                " (documented)" if h.package in documented else " (NOT documented)"
            )
        out.append(
            f"  {h.package:<{width_pkg}}  {h.version:<{width_ver}}  "
            f"{h.specifier:<{width_spec}}  {label}"
        )

    if snapshot.taken_at is not None:
        now = now or datetime.now(UTC)
        age = (now - snapshot.taken_at).days
        newer = [p for p in result.checked if p.released and p.released > snapshot.taken_at]
        out.append(
            f"note: the snapshot is {age} days old; {len(newer)} of the locked versions were "
            "released after it, and advisories published since are not in it "
            "(bash docker/audit-lock.sh checks against OSV where the network exists)"
        )
    if snapshot.invalid:
        shown = ", ".join(f"{r.package} {r.text!r}" for r in snapshot.invalid[:5])
        more = f", and {len(snapshot.invalid) - 5} more" if len(snapshot.invalid) > 5 else ""
        out.append(
            f"note: {len(snapshot.invalid)} invalid specifier(s) in the snapshot ignored "
            f"({shown}{more}); {len(result.unchecked)} of them concern a locked package"
        )

    fails: list[str] = []
    for h in fixed:
        fails.append(
            f"FAIL: {h.package} {h.version} is inside {h.specifier!r}, an advisory with a fixed "
            f"release: upgrade it in pyproject.toml and run uv lock"
        )
    for pkg in undocumented:
        specs = ", ".join(repr(h.specifier) for h in open_hits if h.package == pkg)
        version = next(h.version for h in open_hits if h.package == pkg)
        fails.append(
            f"FAIL: {pkg} {version} is inside {specs} (no fixed release) and {doc_name} "
            f"{'does not exist' if doc_text is None else 'does not mention it'}: write down "
            "its risk and how the deployment mitigates it there"
        )
    for r in result.unchecked:
        versions = ", ".join(p.version for p in result.checked if p.name == r.package)
        fails.append(
            f"FAIL: advisory range {r.text!r} of {r.package} is not a valid PEP 440 specifier, "
            f"so the locked {r.package} {versions} could not be checked against it"
        )
    for p in result.bad_versions:
        fails.append(
            f"FAIL: locked {p.name} {p.version!r} is not a PEP 440 version, so it could not be "
            "checked against its advisories"
        )
    return out, fails


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (0 clean, 1 findings, 2 bad input)."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.audit_lock",
        description="Check uv.lock against a dated Safety DB snapshot, offline.",
    )
    parser.add_argument("--lock", type=Path, default=REPO_ROOT / "uv.lock", help="uv lock file")
    parser.add_argument(
        "--advisories",
        type=Path,
        default=None,
        help=f"Safety DB insecure.json (default: ${ADVISORIES_ENV} or ../shared/data/advisories/)",
    )
    parser.add_argument(
        "--security-doc",
        type=Path,
        default=REPO_ROOT / "docs" / "security.md",
        help="document that must name every package hit by an advisory with no fixed release",
    )
    args = parser.parse_args(argv)
    advisories: Path = args.advisories or default_advisories_path()

    try:
        locked = read_lock(args.lock)
        snapshot = read_advisories(advisories)
    except InputError as exc:
        print(f"audit_lock: {exc}", file=sys.stderr)
        return 2
    try:
        doc_text: str | None = args.security_doc.read_text(encoding="utf-8")
    except FileNotFoundError:
        doc_text = None
    except (OSError, UnicodeDecodeError) as exc:
        print(f"audit_lock: cannot read security doc {args.security_doc}: {exc}", file=sys.stderr)
        return 2

    result = audit(locked, snapshot)
    out, fails = report(result, snapshot, doc_text, _display(args.security_doc))
    status = 1 if fails else 0
    try:
        print("\n".join(out), flush=True)
        if fails:
            print("\n".join(fails), file=sys.stderr, flush=True)
    except BrokenPipeError:  # e.g. `| head -1`: the verdict is the exit status, not the text
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return status


if __name__ == "__main__":
    raise SystemExit(main())
