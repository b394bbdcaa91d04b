"""`conda env create --file F --prefix P` as far as the project's own line goes.

Like conda, it writes the env's pip section to a requirements file in F's folder and runs pip
there (conda's pip installer does exactly that), so relative paths resolve from
`.snakemake/conda/`. Only the project's `-e` line is installed, with --no-deps, into a fresh
venv at P: the other packages would need conda-forge and PyPI's torch.
"""

import argparse
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import yaml


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--prefix", type=Path, required=True)
    args, _ = parser.parse_known_args(sys.argv[3:])  # after "env create"
    env = yaml.safe_load(args.file.read_text())
    sections = [entry["pip"] for entry in env["dependencies"] if isinstance(entry, dict)]
    pip = [line for section in sections for line in section]
    project = [line for line in pip if line.startswith("-e ")]
    workdir = args.file.parent
    with tempfile.NamedTemporaryFile(
        "w", prefix="condaenv.", suffix=".requirements.txt", dir=workdir, delete=False
    ) as requirements:
        requirements.write("\n".join(project))
    venv.create(args.prefix, with_pip=True)
    command = [str(args.prefix / "bin" / "python"), "-m", "pip", "install", "--no-deps", "-q"]
    result = subprocess.run([*command, "-r", requirements.name], cwd=workdir)
    Path(requirements.name).unlink()
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
