"""Code for a subprocess in which some packages cannot be imported, as in an install without
them: the tests that check what a command or a rule's script needs run behind it."""


def blocking_prelude(packages: tuple[str, ...]) -> str:
    """Python source that makes ``packages`` (and their submodules) raise ModuleNotFoundError."""
    return (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {packages!r}:\n"
        "            raise ModuleNotFoundError(name, name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )
