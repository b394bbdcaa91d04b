"""The package's layers (its ``__init__`` docstring): no module imports a later layer."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "tacos"
LAYERS = [
    ("names", "frames", "logs"),
    ("data", "demo", "captions"),
    ("models", "losses"),
    ("training",),
    ("inference",),
    ("evaluation",),
    ("tables", "peer_tables", "plots", "detect"),
    ("cli",),
]
POSITION = {
    name: (layer, index) for layer, names in enumerate(LAYERS) for index, name in enumerate(names)
}


def imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tacos."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names |= {
                alias.name.split(".")[1] for alias in node.names if alias.name.startswith("tacos.")
            }
    return names


def test_every_top_level_module_has_a_layer():
    tops = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir()}
    tops -= {"__init__", "__pycache__"}
    assert tops == set(POSITION)


def test_no_module_imports_a_later_layer_or_a_later_neighbour():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if top == "__init__":
            continue
        for name in imported_packages(path) - {top}:
            if POSITION[name] > POSITION[top]:
                upward.append(f"{path.relative_to(PACKAGE)} imports tacos.{name}")
    assert upward == []
