"""Imports flow one way through the layers (README, "Layers"): every module's imports, function-local
ones included, read from the source with `ast`, point to its own layer or one below; the import
graph has no cycle; and no stage imports another stage (the orchestrators chain them)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Import name prefix -> source folder (pyproject's package-dir mapping).
SOURCES = {"robolearn": ROOT / "robolearn", "robolearn.envs": ROOT / "envs", "robolearn.policies": ROOT / "policies",
           "robolearn.data": ROOT / "data"}

# Bottom to top. A module belongs to the layer of its longest matching entry ("a.b" matches a.b and a.b.*).
LAYERS = [
    ("foundation", ["robolearn.errors", "robolearn.rendering", "robolearn.registry", "robolearn.settings",
                    "robolearn.distributed", "robolearn.checkpoint", "robolearn.tracking", "robolearn.runtime", "robolearn.locking",
                    "robolearn.lifetime",
                    "robolearn.trainable"]),
    ("envs", ["robolearn.envs"]),
    ("data", ["robolearn.data"]),
    ("models", ["robolearn.encoders", "robolearn.pretraining", "robolearn.policies"]),
    ("training", ["robolearn.config", "robolearn.trainer", "robolearn.embeddings", "robolearn.probes",
                  "robolearn.pretrain", "robolearn.train"]),
    ("policy", ["robolearn.policies.policy"]),
    ("evaluation and export", ["robolearn.evaluation", "robolearn.evaluate", "robolearn.export", "robolearn.report"]),
    ("orchestration", ["robolearn.jobs", "robolearn.pipeline", "robolearn.bench", "robolearn.cli"]),
]
STAGES = {"robolearn.data.collect", "robolearn.data.robomimic_io", "robolearn.data.lerobot_import",
          "robolearn.data.lerobot_export", "robolearn.pretrain", "robolearn.train", "robolearn.evaluate",
          "robolearn.evaluation.offline", "robolearn.export"}
"""The modules behind a command; only orchestration chains them."""
ORCHESTRATION = {"robolearn.jobs", "robolearn.pipeline", "robolearn.bench", "robolearn.cli"}


def modules() -> dict[str, Path]:
    found = {}
    for prefix, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            if ".venv" in path.parts or "assets" in path.parts:
                continue
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([prefix, *parts])
            found.setdefault(name, path)  # robolearn.envs is envs/, not robolearn/envs (there is none)
    return found


def layer_of(name: str) -> int:
    if name == "robolearn":  # the package itself: the version, and binding a marked child to its parent
        return 0
    best, level = -1, None
    for i, (_, entries) in enumerate(LAYERS):
        for e in entries:
            if (name == e or name.startswith(e + ".")) and len(e) > best:
                best, level = len(e), i
    assert level is not None, f"{name} is in no layer: add it to LAYERS (and to the README)"
    return level


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported robolearn module, line) for every import statement anywhere in the file."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "robolearn"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            if base.split(".")[0] != "robolearn":
                continue
            for a in node.names:  # `from pkg import module` imports the module
                sub = f"{base}.{a.name}"
                out.append((sub if sub in known else base, node.lineno))
    return [(m, line) for m, line in out if m in known and m != name]


def graph() -> dict[str, list[tuple[str, int]]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def test_every_import_points_down_or_sideways():
    upward = []
    for name, deps in graph().items():
        for dep, line in deps:
            if layer_of(dep) > layer_of(name):
                upward.append(f"{name}:{line} imports {dep} ({LAYERS[layer_of(name)][0]} -> "
                              f"{LAYERS[layer_of(dep)][0]})")
    assert not upward, "imports going up a layer:\n" + "\n".join(upward)


def test_the_import_graph_has_no_cycle():
    g = {name: sorted({d for d, _ in deps}) for name, deps in graph().items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str):
        state[n] = 1
        stack.append(n)
        for d in g.get(n, []):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(g):
        if n not in state:
            visit(n)


def test_stages_do_not_import_each_other():
    crossing = [f"{name}:{line} imports {dep}" for name, deps in graph().items() if name in STAGES
                for dep, line in deps if dep in STAGES]
    assert not crossing, "a stage imports another stage (chain them in robolearn.pipeline):\n" + "\n".join(crossing)


def test_the_checker_sees_function_local_and_relative_imports(tmp_path):
    """The test above would pass vacuously if the parser missed imports: it must see these."""
    src = tmp_path / "mod.py"
    src.write_text("from .store import open_store\n\ndef f():\n    from robolearn.pipeline import run\n")
    known = {"robolearn.data.store", "robolearn.pipeline", "robolearn.data.windows"}
    found = imports("robolearn.data.windows", src, known)
    assert ("robolearn.data.store", 1) in found and ("robolearn.pipeline", 4) in found
    assert layer_of("robolearn.pipeline") > layer_of("robolearn.data.windows")


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)
