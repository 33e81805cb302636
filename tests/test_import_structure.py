"""Imports run one way, and the light layers stay light.

- ``hub_datasets`` (readers, build, publishing) imports ``unimse_hf``, never the reverse: only the command line
  (``unimse_hf/cli.py``, inside its ``build-dataset`` command) may import ``hub_datasets``.
- ``hub_datasets`` imports only the torch-free part of ``unimse_hf`` (:data:`ALLOWED_FROM_HUB_DATASETS`).
- The label, data and command-line modules import no torch / transformers at module level, and importing them in
  a fresh interpreter loads neither (this needs a lazy ``unimse_hf/__init__.py``).
- A constant shared with the remote-code files has one home; the copies in those files must equal it.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "src" / "unimse_hf"
HUB_DATASETS = ROOT / "hub_datasets"

#: What ``hub_datasets`` may import from ``unimse_hf`` (a name and everything under it): the torch-free layer.
ALLOWED_FROM_HUB_DATASETS: tuple[str, ...] = (
    "unimse_hf.__version__",
    "unimse_hf.citations",
    "unimse_hf.labels",
    "unimse_hf.lazy_attributes",
    "unimse_hf.data.columns",
    "unimse_hf.data.embeddings",  # imports torch and transformers only when a TextEmbedder is built
    "unimse_hf.data.frame_features",
    "unimse_hf.data.mixtures",
    "unimse_hf.data.pseudo_labels",
    "unimse_hf.data.report",
    "unimse_hf.data.schema",
    "unimse_hf.data.universal_labels",
    "unimse_hf.media",  # numpy and scipy; the media libraries (av, opensmile, cv2) only when a file is read
)
#: Packages that load torch (``evaluate`` does, when torch is installed).
HEAVY: tuple[str, ...] = ("torch", "transformers", "evaluate", "accelerate", "peft")
#: Modules that must not import :data:`HEAVY` packages at module level.
LIGHT_MODULES: list[Path] = sorted(
    [LIBRARY / "labels.py", LIBRARY / "citations.py", LIBRARY / "cli.py",
     LIBRARY / "lazy_attributes.py", *(LIBRARY / "data").glob("*.py"), *(LIBRARY / "media").glob("*.py"),
     *HUB_DATASETS.glob("*.py")]
)  # fmt: skip
#: Files copied as Hub remote code: they keep their own copy of a shared constant.
REMOTE_CODE: tuple[str, ...] = (
    "modeling_unimse.py", "processing_unimse.py", "feature_extraction_unimse.py", "pipeline_unimse.py"
)  # fmt: skip


def _module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent if path.is_relative_to(LIBRARY) else ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, module_level_only: bool) -> Iterator[ast.AST]:
    """Every node under ``node``; with ``module_level_only``, not into functions or ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if module_level_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if module_level_only and isinstance(child, ast.If) and _is_type_checking(child.test):
            for branch in child.orelse:
                yield branch
                yield from _walk(branch, module_level_only)
            continue
        yield child
        yield from _walk(child, module_level_only)


def imported_names(path: Path, *, module_level_only: bool = False) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every import in ``path``; ``from a import b`` gives ``a.b``, relative imports
    are resolved against the file's package."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in _walk(ast.parse(path.read_text(), str(path)), module_level_only):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return names


def _under(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def test_imported_names_resolves_relative_and_function_level_imports():
    names = [name for _, name in imported_names(HUB_DATASETS / "build.py")]
    assert "hub_datasets.readers.READERS" in names and "unimse_hf.data.schema.CORPORA" in names
    cli = [name for _, name in imported_names(LIBRARY / "cli.py")]
    assert "hub_datasets.build.build_dataset" in cli and "unimse_hf.data.mixtures.CONFIGS" in cli
    assert not any(
        _under(name, "hub_datasets") for _, name in imported_names(LIBRARY / "cli.py", module_level_only=True)
    )
    embeddings = [name for _, name in imported_names(LIBRARY / "data" / "embeddings.py", module_level_only=True)]
    assert "torch" not in embeddings  # imported under TYPE_CHECKING and inside functions only


def test_unimse_hf_never_imports_hub_datasets_except_its_command_line():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted(LIBRARY.rglob("*.py"))
        if path != LIBRARY / "cli.py"
        for line, name in imported_names(path)
        if _under(name, "hub_datasets")
    ]
    assert offenders == []
    cli_module_level = [name for _, name in imported_names(LIBRARY / "cli.py", module_level_only=True)]
    assert not any(_under(name, "hub_datasets") for name in cli_module_level)


def test_hub_datasets_imports_only_the_light_part_of_unimse_hf():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted(HUB_DATASETS.glob("*.py"))
        for line, name in imported_names(path)
        if _under(name, "unimse_hf") and not _under(name, ALLOWED_FROM_HUB_DATASETS)
    ]
    assert offenders == []


@pytest.mark.parametrize("path", LIGHT_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_light_modules_import_no_torch_at_module_level(path):
    heavy = [f"{line}: {name}" for line, name in imported_names(path, module_level_only=True) if _under(name, HEAVY)]
    assert heavy == []


@pytest.mark.parametrize(
    "args",
    [["-c", "import unimse_hf.labels"], ["-c", "import unimse_hf.data.schema"], ["-c", "import hub_datasets.splits"],
     ["-m", "unimse_hf.cli", "--help"]],
    ids=["unimse_hf.labels", "unimse_hf.data.schema", "hub_datasets.splits", "unimse-hf --help"],
)  # fmt: skip
def test_light_entry_points_load_no_torch_in_a_fresh_interpreter(args):
    run = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    # -X importtime writes "import time: self | cumulative | <indented module name>" for every module imported
    loaded = {line.rpartition("|")[2].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    assert loaded, "no -X importtime output"
    assert sorted(loaded & {"torch", "transformers"}) == []


def _module_level_assignments(path: Path, name: str) -> list[object]:
    """The values assigned to ``name`` at the top of ``path``: the literal, or ``...`` for any other expression."""
    values = []
    for node in ast.parse(path.read_text(), str(path)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) \
            else []  # fmt: skip
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and node.value is not None:
            try:
                values.append(ast.literal_eval(node.value))
            except ValueError:
                values.append(...)
    return values


@pytest.mark.parametrize(
    "name, home",
    [("CORPORA", "unimse_hf.labels"), ("LABEL_FIELDS", "unimse_hf.labels"), ("FIELD_LABELS", "unimse_hf.labels"),
     ("MODALITIES", "unimse_hf.data.schema"), ("SPLITS", "unimse_hf.data.schema"),
     ("SPLIT_ALIASES", "hub_datasets.splits")],
)  # fmt: skip
def test_shared_constants_have_one_home_and_the_remote_code_copies_equal_it(name, home):
    module = importlib.import_module(home)
    value, home_path = getattr(module, name), Path(module.__file__).resolve()
    assigned = {
        path: values for path in sorted([*LIBRARY.rglob("*.py"), *HUB_DATASETS.glob("*.py")])
        if (values := _module_level_assignments(path, name))
    }  # fmt: skip
    assert home_path in assigned
    elsewhere = [str(path.relative_to(ROOT)) for path in assigned if path != home_path and path.name not in REMOTE_CODE]
    assert elsewhere == []
    for path in (p for p in assigned if p.name in REMOTE_CODE):
        assert assigned[path] == [value], f"{path.relative_to(ROOT)}: {name} = {assigned[path]}, {home} has {value}"
