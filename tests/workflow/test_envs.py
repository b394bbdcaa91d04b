"""The conda environments of the rules (envs/*.yaml): they parse, come from conda-forge, pin
exactly what pyproject.toml pins, and `snakemake --sdm conda` accepts them. Conda channels are
unreachable here, so the dry run uses a stub `conda` that answers snakemake's set-up queries."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1].parent
ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
STUB_CONDA = Path(__file__).parent / "stub_conda" / "conda"
# conda-forge names of packages whose PyPI name differs.
PYPI_NAMES = {"pysoundfile": "soundfile", "soxr-python": "soxr"}
# Entries that are tools of the environment, not dependencies of the project.
NOT_PROJECT_DEPENDENCIES = {"python", "pip"}
CONDA_SPEC = re.compile(r"(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<version>.*)")


def conda_requirement(spec: str) -> tuple[str, SpecifierSet]:
    """A conda match spec as (PyPI name, PEP 440 specifiers); conda's `=3.11` means 3.11.*."""
    match = CONDA_SPEC.fullmatch(spec.strip())
    assert match, f"not a conda package spec: {spec!r}"
    name, version = match["name"], match["version"].replace(" ", "")
    if re.fullmatch(r"=[^=<>!~]+", version):
        version = f"={version}" if version.endswith("*") else f"={version}.*"
    return canonicalize_name(PYPI_NAMES.get(name, name)), SpecifierSet(version)


def load_env(path: Path) -> dict:
    env = yaml.safe_load(path.read_text())
    assert isinstance(env, dict), f"{path.name} is not a mapping"
    return env


def conda_specs(env: dict) -> list[str]:
    return [entry for entry in env["dependencies"] if isinstance(entry, str)]


def pip_lines(env: dict) -> list[str]:
    sections = [entry["pip"] for entry in env["dependencies"] if isinstance(entry, dict)]
    return [line for section in sections for line in section]


def env_pins(env: dict) -> dict[str, SpecifierSet]:
    """Every package the env pins, conda and pip sections together, by canonical PyPI name."""
    pins = dict(conda_requirement(spec) for spec in conda_specs(env))
    for line in pip_lines(env):
        if not line.startswith("-e "):
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = requirement.specifier
    return {name: spec for name, spec in pins.items() if name not in NOT_PROJECT_DEPENDENCIES}


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def project_pins() -> dict[str, SpecifierSet]:
    requirements = [Requirement(line) for line in pyproject()["dependencies"]]
    return {canonicalize_name(req.name): req.specifier for req in requirements}


def test_there_are_env_files():
    assert ENV_FILES, "envs/ has no *.yaml"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda path: path.name)
def test_env_uses_conda_forge_only(path):
    channels = load_env(path)["channels"]
    assert channels[0] == "conda-forge"
    assert not {"defaults", "anaconda", "main"} & set(channels)


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda path: path.name)
def test_env_python_admits_the_versions_the_project_requires(path):
    python = dict(conda_requirement(spec) for spec in conda_specs(load_env(path)))["python"]
    requires = SpecifierSet(pyproject()["requires-python"])
    probes = ["3.10.14", "3.11.0", "3.11.9", "3.12.0"]
    assert [probe in python for probe in probes] == [probe in requires for probe in probes]


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda path: path.name)
def test_env_installs_the_project_itself(path):
    editable = [line for line in pip_lines(load_env(path)) if line.startswith("-e ")]
    assert [(path.parent / line.removeprefix("-e ").strip()).resolve() for line in editable] == [
        REPO
    ]


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda path: path.name)
def test_env_pins_exactly_the_dependencies_of_pyproject(path):
    pins, wanted = env_pins(load_env(path)), project_pins()
    differing = {
        name: (str(pins.get(name, "<absent>")), str(wanted.get(name, "<absent>")))
        for name in pins.keys() | wanted.keys()
        if pins.get(name) != wanted.get(name)
    }
    assert differing == {}, f"{path.name} vs pyproject.toml (env, pyproject): {differing}"


def test_conda_spec_conversion():
    assert conda_requirement("python=3.11") == ("python", SpecifierSet("==3.11.*"))
    assert conda_requirement("pysoundfile>=0.13") == ("soundfile", SpecifierSet(">=0.13"))
    assert conda_requirement("numpy >=1.26, <3") == ("numpy", SpecifierSet(">=1.26,<3"))
    assert conda_requirement("pip") == ("pip", SpecifierSet(""))


@pytest.fixture
def stub_conda_path(tmp_path) -> Path:
    """A folder holding only the stub `conda`, executable whatever mode the checkout gave it."""
    folder = tmp_path / "bin"
    folder.mkdir()
    shutil.copy(STUB_CONDA, folder / "conda")
    (folder / "conda").chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP)
    return folder


def test_conda_dry_run_plans_every_env_and_all_jobs(tmp_path, stub_conda_path):
    calls = tmp_path / "conda_calls.log"
    env = {
        **os.environ,
        "PATH": f"{stub_conda_path}{os.pathsep}{os.environ['PATH']}",
        "STUB_CONDA_LOG": str(calls),
    }
    result = subprocess.run(
        [
            sys.executable, "-m", "snakemake", "-n", "--sdm", "conda", "--conda-frontend", "conda",
            "--snakefile", str(REPO / "workflow" / "Snakefile"),
            "--configfile", str(REPO / "config" / "config.yaml"), "--directory", str(tmp_path),
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    planned = re.findall(r"Conda environment (\S+) will be created", output)
    assert sorted({Path(path).resolve() for path in planned}) == ENV_FILES
    assert calls.read_text().splitlines() == [
        "info --json",
        "--version",
        "config --get channel_priority --json",
    ]
    assert re.search(r"^pretrain\s+1$", result.stdout, re.MULTILINE)
