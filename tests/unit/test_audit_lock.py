"""``devtools.audit_lock``: the offline audit of uv.lock against the Safety DB snapshot.

Each behaviour is proved on tiny lock / snapshot / security-doc files written to a temporary
folder, through ``main()`` (exit status and output, as CI sees them); the last test runs the
module as CI does, on the real lock and the real snapshot.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

from devtools import audit_lock
from devtools.audit_lock import REPO_ROOT, has_upper_bound, main, mentions, normalize_name

SNAPSHOT_META = {"advisory": "PyUp.io metadata", "timestamp": 1775023247}  # 2026-04-01 UTC


def write_lock(folder: Path, packages: list[tuple[str, str]], extra: str = "") -> Path:
    """A uv.lock with one registry ``[[package]]`` per (name, version), then ``extra``."""
    blocks = ['version = 1\nrevision = 3\nrequires-python = "==3.11.*"\n']
    for name, version in packages:
        blocks.append(
            f'[[package]]\nname = "{name}"\nversion = "{version}"\n'
            'source = { registry = "https://pypi.org/simple" }\n'
            'sdist = { url = "https://example.invalid/x.tar.gz", hash = "sha256:00", '
            'upload-time = "2026-01-02T03:04:05.678Z" }\n'
        )
    path = folder / "uv.lock"
    path.write_text("\n".join(blocks) + extra, encoding="utf-8")
    return path


def write_snapshot(folder: Path, ranges: dict[str, Any]) -> Path:
    """An insecure.json with ``ranges`` and the real snapshot's ``$meta``."""
    path = folder / "insecure.json"
    path.write_text(json.dumps({"$meta": SNAPSHOT_META, **ranges}), encoding="utf-8")
    return path


def write_doc(folder: Path, text: str) -> Path:
    """A security doc holding ``text``."""
    path = folder / "security.md"
    path.write_text(text, encoding="utf-8")
    return path


def run(
    capsys: pytest.CaptureFixture[str], lock: Path, snapshot: Path, doc: Path
) -> tuple[int, str, str]:
    """``main()`` on the three files: (exit status, stdout, stderr)."""
    code = main(["--lock", str(lock), "--advisories", str(snapshot), "--security-doc", str(doc)])
    out, err = capsys.readouterr()
    return code, out, err


def has_hit_line(out: str, package: str, version: str, spec: str, label: str) -> bool:
    """Whether ``out`` has the per-hit line (columns are padded to the widest hit)."""
    cells = (re.escape(c) for c in (package, version, spec, label))
    return re.search(r"^  " + r"\s+".join(cells) + "$", out, flags=re.MULTILINE) is not None


def test_hit_with_a_fixed_release_fails_and_says_how_to_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = write_lock(tmp_path, [("foo", "1.0"), ("clean", "3.0")])
    snapshot = write_snapshot(tmp_path, {"foo": ["<1.2"], "clean": ["<2.0"]})
    # naming the package in the doc must not excuse a hit that has a fixed release
    doc = write_doc(tmp_path, "foo is known.\n")
    code, out, err = run(capsys, lock, snapshot, doc)
    assert code == 1
    assert "1 with a fixed release, 0 without" in out
    assert has_hit_line(out, "foo", "1.0", "<1.2", "fixed release exists")
    assert "FAIL: foo 1.0 is inside '<1.2'" in err
    assert "upgrade it in pyproject.toml and run uv lock" in err
    assert "clean" not in err


def test_open_ended_hit_named_in_the_doc_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = write_lock(tmp_path, [("bar", "2.0")])
    snapshot = write_snapshot(tmp_path, {"bar": [">0", "<1.0"]})
    doc = write_doc(tmp_path, "## Bar\n\nBar's server is not exposed.\n")
    code, out, err = run(capsys, lock, snapshot, doc)
    assert code == 0, err
    assert err == ""
    assert "(snapshot 2026-04-01): 0 with a fixed release, 1 without (bar: documented in" in out
    assert has_hit_line(out, "bar", "2.0", ">0", "no fixed release (documented)")


def test_open_ended_hit_missing_from_the_doc_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = write_lock(tmp_path, [("bar", "2.0"), ("baz", "1.0")])
    snapshot = write_snapshot(tmp_path, {"bar": [">=1.1.0"], "baz": ["!=0.9,>0.5"]})
    # a longer name that contains "bar" is not a mention of bar
    doc = write_doc(tmp_path, "baz: accepted. bar-extras and foobar are unrelated.\n")
    code, out, err = run(capsys, lock, snapshot, doc)
    assert code == 1
    assert "2 without (baz: documented in" in out
    assert "bar: not mentioned in" in out
    assert has_hit_line(out, "bar", "2.0", ">=1.1.0", "no fixed release (NOT documented)")
    assert "FAIL: bar 2.0 is inside '>=1.1.0' (no fixed release)" in err
    assert "does not mention it" in err
    assert "baz" not in err

    code, out, err = run(capsys, lock, snapshot, tmp_path / "absent.md")
    assert code == 1
    assert err.count("does not exist") == 2


def test_versions_outside_every_range_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = write_lock(tmp_path, [("foo", "1.2"), ("bar", "2.0.2"), ("qux", "1.3")])
    snapshot = write_snapshot(
        tmp_path,
        {
            "foo": ["<1.2", "<=1.1.9", "==1.1.*", "~=1.0.0", "===1.2.0"],
            "bar": [">=2.0.0,<2.0.2", ">3"],
            "qux": ["!=1.3"],
        },
    )
    doc = write_doc(tmp_path, "nothing to declare\n")
    code, out, err = run(capsys, lock, snapshot, doc)
    assert code == 0, err
    assert "3 locked packages checked against 3 advisory entries" in out
    assert "0 with a fixed release, 0 without" in out


def test_pre_releases_are_inside_ranges(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # packaging's default would leave 1.5.0b1 outside '>=1.0,<1.6'; an audit must not
    lock = write_lock(tmp_path, [("foo", "1.5.0b1")])
    snapshot = write_snapshot(tmp_path, {"foo": [">=1.0,<1.6"]})
    code, out, err = run(capsys, lock, snapshot, write_doc(tmp_path, ""))
    assert code == 1
    assert "FAIL: foo 1.5.0b1 is inside '>=1.0,<1.6'" in err


@pytest.mark.parametrize(
    ("locked", "advised"),
    [("Foo_Bar", "foo-bar"), ("foo-bar", "Foo__Bar"), ("foo.bar", "FOO-_.bar")],
)
def test_messy_names_meet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], locked: str, advised: str
) -> None:
    lock = write_lock(tmp_path, [(locked, "1.0")])
    snapshot = write_snapshot(tmp_path, {advised: ["<2"]})
    code, out, err = run(capsys, lock, snapshot, write_doc(tmp_path, ""))
    assert code == 1
    assert "FAIL: foo-bar 1.0 is inside '<2'" in err


def test_open_ended_doc_check_uses_normalised_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = write_lock(tmp_path, [("Great_Expectations", "1.0")])
    snapshot = write_snapshot(tmp_path, {"great.expectations": [">0"]})
    code, out, err = run(capsys, lock, snapshot, write_doc(tmp_path, "Great Expectations: ok"))
    assert code == 0, err
    assert "great-expectations: documented" in out


def test_invalid_specifiers_are_reported_not_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = write_lock(tmp_path, [("foo", "1.0"), ("bar", "1.0")])
    snapshot = write_snapshot(
        tmp_path,
        {
            "keystone": [">=2011.3.1,<2013.1.g3"],  # as in the real snapshot
            "nova": 42,
            "foo": ["not a range", None, "<0.5"],  # the valid range is still checked
            "bar": [">0"],
        },
    )
    code, out, err = run(capsys, lock, snapshot, write_doc(tmp_path, "bar: accepted"))
    assert "note: 4 invalid specifier(s) in the snapshot ignored" in out
    assert "'>=2011.3.1,<2013.1.g3'" in out
    assert "2 of them concern a locked package" in out
    assert has_hit_line(out, "bar", "1.0", ">0", "no fixed release (documented)")
    # foo is locked and two of its entries could not be read: fail closed
    assert code == 1
    assert "FAIL: advisory range 'not a range' of foo is not a valid PEP 440 specifier" in err
    assert "could not be checked" in err

    # the same bad entries for packages we do not lock: reported, and the audit passes
    snapshot = write_snapshot(
        tmp_path, {"keystone": [">=2011.3.1,<2013.1.g3"], "nova": 42, "bar": [">0"]}
    )
    code, out, err = run(capsys, lock, snapshot, write_doc(tmp_path, "bar: accepted"))
    assert code == 0, err
    assert "note: 2 invalid specifier(s) in the snapshot ignored" in out
    assert "0 of them concern a locked package" in out


def test_editable_and_versionless_entries_are_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = (
        '\n[[package]]\nname = "mercato"\nversion = "0.1.0"\nsource = { editable = "." }\n'
        '\n[[package]]\nname = "member"\nversion = "0.2.0"\nsource = { virtual = "member" }\n'
        '\n[[package]]\nname = "nover"\nsource = { registry = "https://pypi.org/simple" }\n'
    )
    lock = write_lock(tmp_path, [("foo", "1.0")], extra)
    snapshot = write_snapshot(tmp_path, {"mercato": ["<1"], "member": ["<1"], "nover": [">0"]})
    code, out, err = run(capsys, lock, snapshot, write_doc(tmp_path, ""))
    assert code == 0, err
    assert "audit: 1 locked packages checked" in out


@pytest.mark.parametrize("missing", ["lock", "advisories"])
def test_missing_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    lock = write_lock(tmp_path, [("foo", "1.0")])
    snapshot = write_snapshot(tmp_path, {"foo": ["<2"]})
    doc = write_doc(tmp_path, "")
    (lock if missing == "lock" else snapshot).unlink()
    code, out, err = run(capsys, lock, snapshot, doc)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "not found" in err
    assert str(lock if missing == "lock" else snapshot) in err


def test_default_snapshot_comes_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = tmp_path / "nowhere" / "insecure.json"
    monkeypatch.setenv("MERCATO_ADVISORIES", str(absent))
    assert audit_lock.default_advisories_path() == absent
    code = main(["--lock", str(write_lock(tmp_path, [("foo", "1.0")]))])
    _, err = capsys.readouterr()
    assert code == 2
    assert str(absent) in err and "MERCATO_ADVISORIES" in err

    monkeypatch.delenv("MERCATO_ADVISORIES")
    expected = REPO_ROOT.parent / "shared" / "data" / "advisories" / "insecure.json"
    assert audit_lock.default_advisories_path() == expected


@pytest.mark.parametrize(
    ("spec", "bounded"),
    [
        ("<1.4.37", True),
        ("<=2.8.1", True),
        (">=2.0.0,<2.0.2", True),
        ("==1.4.*", True),
        ("===1.0", True),
        ("~=1.4", True),
        (">0", False),
        (">=1.1.0", False),
        ("!=1.3,>=1.0", False),
        ("", False),
    ],
)
def test_upper_bound_classification(spec: str, bounded: bool) -> None:
    assert has_upper_bound(SpecifierSet(spec)) is bounded


def test_names_and_mentions() -> None:
    assert normalize_name("Foo__Bar.baz-Qux") == "foo-bar-baz-qux"
    assert mentions("We run **MLflow** 3.", "mlflow")
    assert mentions("see `great_expectations`.", "great-expectations")
    assert not mentions("mlflow-skinny only", "mlflow")
    assert not mentions("feastful", "feast")


@pytest.mark.shared
def test_real_lock_passes_against_the_real_snapshot() -> None:
    """What CI runs: the real uv.lock, the snapshot beside the checkout, docs/security.md."""
    snapshot = audit_lock.default_advisories_path()
    if not snapshot.is_file():
        pytest.skip(f"advisory snapshot not found at {snapshot} (set MERCATO_ADVISORIES)")
    proc = subprocess.run(
        [sys.executable, "-m", "devtools.audit_lock", "--advisories", str(snapshot)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = proc.stdout.splitlines()[0]
    assert summary.startswith("audit: ") and "0 with a fixed release" in summary
    assert "documented in docs/security.md" in summary
