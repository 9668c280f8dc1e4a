"""liveness/ is in rooms that follow the pipeline: a room imports only rooms below it, and no module's
import-time imports go round in a cycle. Read from the source with ast; nothing is imported."""
import ast
import os

from conftest import ROOT

# From the ground up; a module is in the first room whose name is it or its package.
ROOMS = [
    ("base", ["liveness", "liveness.errors", "liveness.quiet", "liveness.common"]),
    ("faces", ["liveness.faces"]),
    ("data", ["liveness.data"]),
    ("models", ["liveness.models"]),
    ("evaluation", ["liveness.evaluation"]),
    ("sessions", ["liveness.sessions"]),
    ("service", ["liveness.service"]),
    ("pipeline", ["liveness.pipeline"]),
    # the commands users type (python -m liveness.pretrained, ...): thin modules that run a room's main
    ("commands", ["liveness.pretrained", "liveness.export", "liveness.api_keys", "liveness.sample",
                  "liveness.detector"]),
]


def package_modules(folder, package="liveness"):
    """{module name: path} for every .py file under `folder`."""
    modules = {}
    for here, _, files in os.walk(folder):
        for name in files:
            if name.endswith(".py"):
                parts = [package, *os.path.relpath(os.path.join(here, name), folder)[:-3].split(os.sep)]
                modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = os.path.join(here, name)
    return modules


def imports_of(path, module, modules, at_import_time):
    """The package's modules that `module` imports: all of them, or only those its body runs on import
    (not those inside functions, which load late)."""
    tree = ast.parse(open(path).read(), path)
    is_package = path.endswith("__init__.py")
    found = set()

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)) and not (at_import_time and in_function):
                found.update(targets(child))
            visit(child, nested)

    def targets(node):
        if isinstance(node, ast.Import):
            return {a.name for a in node.names if a.name in modules}
        base = node.module or ""
        if node.level:
            anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
            base = ".".join(anchor + ([node.module] if node.module else []))
        named = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules}
        return named | ({base} if base in modules and len(named) < len(node.names) else set())

    visit(tree, False)
    found.discard(module)
    return found


def import_graph(modules, at_import_time=False):
    return {m: imports_of(path, m, modules, at_import_time) for m, path in modules.items()}


def room_of(module, rooms=ROOMS):
    """(rank, room) of a module: the room that names it or its package (the bare package is only itself)."""
    for rank, (name, members) in enumerate(rooms):
        if any(module == m or (m != "liveness" and module.startswith(m + ".")) for m in members):
            return rank, name
    return None


def layering_violations(graph, rooms=ROOMS):
    """'a (room) imports b (higher room)' for each import that goes up."""
    found = []
    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            (low, low_name), (high, high_name) = room_of(module, rooms), room_of(target, rooms)
            if high > low:
                found.append(f"{module} ({low_name}) imports {target} ({high_name})")
    return found


def find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def walk(module, path):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = walk(target, path + [target])
                if cycle:
                    return cycle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = walk(module, [module])
            if cycle:
                return cycle
    return None


MODULES = package_modules(os.path.join(ROOT, "liveness"))


def test_every_module_of_the_package_is_in_a_room():
    assert [m for m in MODULES if room_of(m) is None] == []


def test_no_room_imports_a_room_above_it():
    assert layering_violations(import_graph(MODULES)) == []


def test_no_import_cycle_at_import_time():
    assert find_cycle(import_graph(MODULES, at_import_time=True)) is None


def test_the_guard_reports_an_import_that_goes_up_and_a_cycle(tmp_path):
    # a tiny package with the same rooms: faces importing models, and a cycle inside models
    files = {"__init__.py": "", "faces/__init__.py": "", "models/__init__.py": "",
             "faces/crops.py": "from liveness.models.classifier import Model\n",
             "models/classifier.py": "from liveness.models import io\n",
             "models/io.py": "import liveness.models.classifier\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = package_modules(str(tmp_path))
    assert layering_violations(import_graph(modules)) == [
        "liveness.faces.crops (faces) imports liveness.models.classifier (models)"]
    cycle = find_cycle(import_graph(modules, at_import_time=True))
    assert sorted(set(cycle)) == ["liveness.models.classifier", "liveness.models.io"]


def test_an_import_inside_a_function_counts_for_layering_but_not_for_cycles(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "service").mkdir()
    (tmp_path / "data" / "dataset.py").write_text("def load():\n    from liveness.service import app\n")
    (tmp_path / "service" / "app.py").write_text("from liveness.data import dataset\n")
    modules = package_modules(str(tmp_path))
    assert layering_violations(import_graph(modules)) == [
        "liveness.data.dataset (data) imports liveness.service.app (service)"]
    assert find_cycle(import_graph(modules, at_import_time=True)) is None
