"""The conda environments of the rules (workflow/envs/*.yaml): they parse, come from
conda-forge, pin exactly what pyproject.toml pins, keep torch out of the light rules, and
`snakemake --sdm conda` builds them. Conda channels are unreachable here, so a stub `conda`
answers snakemake's set-up queries and builds each env's project line for real with pip."""

from __future__ import annotations

import ast
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
from import_blocker import blocking_prelude
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1].parent
ENV_DIR = REPO / "workflow" / "envs"
ENV_FILES = sorted(ENV_DIR.glob("*.yaml"))
RULES_DIR = REPO / "workflow" / "rules"
STUB_CONDA_DIR = Path(__file__).parent / "stub_conda"
# conda-forge names of packages whose PyPI name differs.
PYPI_NAMES = {"pysoundfile": "soundfile", "soxr-python": "soxr", "msgpack-python": "msgpack"}
# Entries that are tools of the environment, not dependencies of the project.
NOT_PROJECT_DEPENDENCIES = {"python", "pip"}
# Compiled packages the envs take from conda-forge although only dependencies of dependencies
# need them: sed_scores_eval's build (a C++ Cython extension) and its dcase_util chain,
# the openai SDK's and transformers'.
COMPILED_FOR_DEPENDENCIES = {
    "cxx-compiler", "cython", "msgpack", "python-magic",
    "pydantic", "jiter", "tokenizers", "safetensors", "regex",
}  # fmt: skip
# The extras of pyproject.toml each env installs the project with.
ENV_EXTRAS = {"base.yaml": ("openai",), "models.yaml": ("models",)}
PROJECT_LINE = re.compile(r"-e \$\{TACOS_PROJECT_DIR\}(\[(?P<extras>[a-z,]+)\])?")
CONDA_SPEC = re.compile(r"(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<version>.*)")
BLOCKED_IN_THE_LIGHT_ENV = ("torch", "torchaudio", "lightning", "transformers")


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
    excluded = NOT_PROJECT_DEPENDENCIES | COMPILED_FOR_DEPENDENCIES
    return {name: spec for name, spec in pins.items() if name not in excluded}


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def project_pins(extras: tuple[str, ...]) -> dict[str, SpecifierSet]:
    """The pins of the project's dependencies and of the named extras."""
    lines = [*pyproject()["dependencies"]]
    for extra in extras:
        lines += pyproject()["optional-dependencies"][extra]
    requirements = [Requirement(line) for line in lines]
    return {canonicalize_name(req.name): req.specifier for req in requirements}


def test_there_are_the_two_env_files():
    assert [path.name for path in ENV_FILES] == sorted(ENV_EXTRAS)


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
def test_env_installs_the_project_from_the_variable_the_workflow_sets(path):
    editable = [line for line in pip_lines(load_env(path)) if line.startswith("-e ")]
    assert len(editable) == 1
    match = PROJECT_LINE.fullmatch(editable[0])
    assert match, editable[0]
    assert tuple(filter(None, (match["extras"] or "").split(","))) == ENV_EXTRAS[path.name]


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda path: path.name)
def test_env_pins_exactly_the_dependencies_of_pyproject(path):
    pins, wanted = env_pins(load_env(path)), project_pins(ENV_EXTRAS[path.name])
    differing = {
        name: (str(pins.get(name, "<absent>")), str(wanted.get(name, "<absent>")))
        for name in pins.keys() | wanted.keys()
        if pins.get(name) != wanted.get(name)
    }
    assert differing == {}, f"{path.name} vs pyproject.toml (env, pyproject): {differing}"


def test_snakemake_is_a_dependency_of_the_workflow_not_of_the_library():
    library = {canonicalize_name(Requirement(line).name) for line in pyproject()["dependencies"]}
    assert "snakemake" not in library
    workflow = [Requirement(line) for line in pyproject()["optional-dependencies"]["workflow"]]
    assert "snakemake" in {canonicalize_name(req.name) for req in workflow}
    assert "seaborn" not in library


def rule_envs_and_scripts() -> dict[str, tuple[str, str | None]]:
    """{rule: (env constant, script file)} read from workflow/rules/*.smk."""
    found = {}
    for path in sorted(RULES_DIR.glob("*.smk")):
        blocks = re.split(r"^\s*rule(?: (\w+))?:\n", path.read_text(), flags=re.MULTILINE)
        for name, body in zip(blocks[1::2], blocks[2::2], strict=True):
            if name is None:  # rules named in a loop: `name: f"prepare_{dataset}"`
                name = re.search(r'name:\s*f?"(\w+)', body)[1]
            env = re.search(r"conda:\s*(\w+_ENV)", body)
            script = re.search(r'script:\s*"\.\./scripts/(\w+\.py)"', body)
            if env:
                found[name] = (env[1], script[1] if script else None)
    return found


def test_rules_that_need_no_torch_run_in_the_light_env():
    envs = {rule: env for rule, (env, _) in rule_envs_and_scripts().items()}
    models = {rule for rule, env in envs.items() if env == "MODELS_ENV"}
    assert models == {
        "demo_models", "supervised_model", "train_supervised", "pretrain", "finetune", "score",
        "demo_peer_model", "score_peer",
    }  # fmt: skip
    assert {"fetch", "prepare_", "tables", "figures", "evaluate", "peers_table"} <= {
        rule.split("{")[0] for rule, env in envs.items() if env == "BASE_ENV"
    }


def test_the_light_env_scripts_import_no_torch():
    """Each BASE_ENV rule's script runs its imports with torch and friends made unimportable."""
    scripts = sorted(
        {script for env, script in rule_envs_and_scripts().values() if env == "BASE_ENV"}
    )
    assert "evaluate.py" in scripts and "make_figures.py" in scripts
    blocker = blocking_prelude(BLOCKED_IN_THE_LIGHT_ENV)
    for script in scripts:
        tree = ast.parse((REPO / "workflow" / "scripts" / script).read_text())
        imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
        code = blocker + "\n".join(ast.unparse(node) for node in imports)
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.returncode == 0, f"{script}: {result.stderr[-2000:]}"


def test_conda_spec_conversion():
    assert conda_requirement("python=3.11") == ("python", SpecifierSet("==3.11.*"))
    assert conda_requirement("pysoundfile>=0.13") == ("soundfile", SpecifierSet(">=0.13"))
    assert conda_requirement("numpy >=1.26, <3") == ("numpy", SpecifierSet(">=1.26,<3"))
    assert conda_requirement("pip") == ("pip", SpecifierSet(""))


@pytest.fixture
def stub_conda_env(tmp_path) -> dict[str, str]:
    """The environment of a snakemake whose `conda` is the stub, logging its calls."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("conda", "create_env.py"):
        shutil.copy(STUB_CONDA_DIR / name, folder / name)
    (folder / "conda").chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP)
    return {
        **os.environ,
        "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}",
        "STUB_CONDA_LOG": str(tmp_path / "conda_calls.log"),
        "STUB_CONDA_PYTHON": sys.executable,
    }


def conda_snakemake(workdir: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "snakemake", "--sdm", "conda", "--conda-frontend", "conda",
        "--snakefile", str(REPO / "workflow" / "Snakefile"),
        "--configfile", str(REPO / "config" / "config.yaml"), "--directory", str(workdir), *args,
    ]  # fmt: skip


def test_conda_dry_run_plans_every_env_and_all_jobs(tmp_path, stub_conda_env):
    result = subprocess.run(
        conda_snakemake(tmp_path / "run", "-n"),
        cwd=REPO, env=stub_conda_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    planned = re.findall(r"Conda environment (\S+) will be created", output)
    assert sorted({Path(path).resolve() for path in planned}) == ENV_FILES
    assert (tmp_path / "conda_calls.log").read_text().splitlines() == [
        "info --json",
        "--version",
        "config --get channel_priority --json",
    ]
    assert re.search(r"^pretrain\s+1$", result.stdout, re.MULTILINE)


@pytest.mark.slow
def test_snakemake_builds_each_env_from_its_copy_in_dot_snakemake(tmp_path, stub_conda_env):
    """Snakemake copies each env file to .snakemake/conda/<hash>.yaml and conda runs its pip
    section from there: the project line must still reach the repository, editable."""
    workdir = tmp_path / "run"
    result = subprocess.run(
        conda_snakemake(workdir, "--conda-create-envs-only", "--cores", "1"),
        cwd=tmp_path, env=stub_conda_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    copies = sorted((workdir / ".snakemake" / "conda").glob("*.yaml"))
    assert sorted(copy.read_text() for copy in copies) == sorted(
        path.read_text() for path in ENV_FILES
    )
    for copy in copies:
        python = copy.with_suffix("") / "bin" / "python"
        where = subprocess.run(
            [str(python), "-c", "import tacos; print(tacos.__file__)"],
            cwd=tmp_path, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert Path(where.stdout.strip()) == REPO / "src" / "tacos" / "__init__.py"
