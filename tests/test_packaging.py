"""``pip install .`` (not editable) into a fresh virtual environment gives a working
``mailctl`` from any folder: the JSON Schemas ship inside the wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(args: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", REPO, "-w", out], out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = out.glob("mailctl-*.whl")
    return built


def test_wheel_ships_the_schemas(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for schema in sorted((REPO / "schemas").glob("*.schema.json")):
        assert f"reconciler/schemas/{schema.name}" in names
    assert "reconciler/py.typed" in names
    for asset in ("index.html", "app.js", "app.css", "favicon.svg"):  # the status page
        assert f"reconciler/daemon/ui/{asset}" in names
    assert not [n for n in names if n.startswith(("tests/", "configs/", "bench/"))]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mailctl = reconciler.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_wheel_metadata_is_complete(wheel: Path) -> None:
    """License text, classifiers and project URLs reach the index page and ``pip show``."""
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    headers = [line.split(": ", 1) for line in metadata.split("\n\n", 1)[0].splitlines()]
    values: dict[str, list[str]] = {}
    for key, value in (h for h in headers if len(h) == 2):
        values.setdefault(key, []).append(value)
    assert "License :: OSI Approved :: Apache Software License" in values["Classifier"]
    assert "Programming Language :: Python :: 3.11" in values["Classifier"]
    assert {u.split(",", 1)[0] for u in values["Project-URL"]} >= {
        "Homepage",
        "Documentation",
        "Source",
    }
    assert values.get("Author") or values.get("Author-email")
    license_files = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    if not license_files:  # older hatchling keeps license files at the dist-info root
        license_files = [n for n in names if n.endswith(".dist-info/LICENSE")]
    (license_file,) = license_files
    assert "Apache License" in archive.read(license_file).decode()
    assert "Version 2.0, January 2004" in archive.read(license_file).decode()


def test_installed_wheel_validates_from_any_folder(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    proc = _run([py, "-m", "pip", "install", "-q", wheel], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(REPO / "configs", elsewhere / "configs")
    mailctl = env_dir / "bin" / "mailctl"
    ok = _run([mailctl, "validate"], elsewhere)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip() == "5 files valid."

    (elsewhere / "configs" / "orgs" / "acme.yaml").write_text(
        "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata:\n  name: acme\n"
        "spec:\n  mode: default\n  mdoe: x\n"
    )
    bad = _run([mailctl, "validate", "configs"], elsewhere)
    assert bad.returncode == 1
    assert "configs/orgs/acme.yaml:7:3: error:" in bad.stdout
    assert "Traceback" not in bad.stderr

    where = _run([py, "-c", "import reconciler.schemas as s; print(s.schema_dir())"], elsewhere)
    assert where.stdout.strip().startswith(str(env_dir)), where.stdout + where.stderr
