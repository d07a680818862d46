"""The tally package's imports point one way: no module imports another that (in the end) imports
it back, counting imports inside functions too, and the domain reaches into neither the web layer
nor labels (beyond rendering)."""

import ast
from pathlib import Path

import tally

ROOT = Path(tally.__file__).parent
# tally may render with labels at most; the signature check, for one, lives in tally.signatures.
LABELS_ALLOWED = {"labels.render", "labels.pdf", "labels.zpl"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imported(name: str, path: Path) -> set[str]:
    """Every module this one imports, anywhere in it (module level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # "from tally import outbox" imports the module tally.outbox, not just the package.
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                         for a in node.names)
    return found


def tally_graph() -> dict[str, set[str]]:
    return {name: {m for m in imported(name, path) if m in MODULES and m != name}
            for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that ends where it starts, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if cycle := visit(target):
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        if cycle := visit(start):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_imports_inside_functions():
    graph = tally_graph()
    assert "tally.outbox" in graph["tally.confirmation"]  # "from tally import outbox"
    assert "tally.customs.messages" in graph["tally.release_orders"]


def test_tally_imports_have_no_cycles():
    cycle = find_cycle(tally_graph())
    assert cycle is None, "tally import cycle: " + " -> ".join(cycle)


def test_the_domain_imports_no_web_and_labels_only_to_render():
    outside = {(name, m) for name, path in MODULES.items() for m in imported(name, path)
               if m.split(".")[0] in ("web", "flask")
               or (m.split(".")[0] == "labels" and m not in LABELS_ALLOWED)}
    assert not outside
