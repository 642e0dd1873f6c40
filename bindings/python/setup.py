"""Build hook: copies the checkpoint component into the package before it is built.

The component is not checked in; it is built from the repository's guest/ crate. It
is found, in this order:

1. the file named by the environment variable PIPELINE_CHECKPOINT_WASM;
2. the canonical build output, target/wasm32-wasip2/guest/pipeline_checkpoint_guest.wasm,
   under the repository root;
3. the output of the canonical cargo command, run from the repository root.

The repository root is the nearest ancestor of this file holding the workspace (a
Cargo.toml beside guest/ and wit/), or PIPELINE_CHECKPOINT_REPO when the package
directory was copied out of its clone. Building from an sdist, which already
carries the component, needs none of them.
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PACKAGED = HERE / "src" / "pipeline_checkpoint" / "pipeline_checkpoint.wasm"
CANONICAL = Path("target") / "wasm32-wasip2" / "guest" / "pipeline_checkpoint_guest.wasm"
CARGO_COMMAND = [
    "cargo",
    "build",
    "-p",
    "pipeline-checkpoint-guest",
    "--target",
    "wasm32-wasip2",
    "--profile",
    "guest",
    "--locked",
]
HOW_TO_BUILD = (
    "build it from a clone of the repository with\n"
    "    rustup target add wasm32-wasip2\n"
    "    " + " ".join(CARGO_COMMAND) + "\n"
    "then install again, or point PIPELINE_CHECKPOINT_WASM at a built component."
)


class ComponentNotFound(RuntimeError):
    pass


def is_workspace(path: Path) -> bool:
    return (path / "Cargo.toml").is_file() and (path / "guest").is_dir() and (path / "wit").is_dir()


def repository_root():
    named = os.environ.get("PIPELINE_CHECKPOINT_REPO")
    if named:
        root = Path(named).resolve()
        if not is_workspace(root):
            raise ComponentNotFound(f"PIPELINE_CHECKPOINT_REPO={named} is not the repository's root")
        return root
    for candidate in HERE.parents:
        if is_workspace(candidate):
            return candidate
    return None


def find_component() -> Path:
    named = os.environ.get("PIPELINE_CHECKPOINT_WASM")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ComponentNotFound(f"PIPELINE_CHECKPOINT_WASM={named} is not a file")
        return path
    root = repository_root()
    if root is None:
        # An sdist carries the component it was made with; nothing to rebuild from.
        if (HERE / "PKG-INFO").is_file() and PACKAGED.is_file():
            return PACKAGED
        raise ComponentNotFound(
            f"{HERE} is not inside a pipeline-checkpoint clone (pip may have copied it "
            "elsewhere), so the component cannot be built; set PIPELINE_CHECKPOINT_REPO "
            "to the clone's root, or PIPELINE_CHECKPOINT_WASM to a built component, or "
            + HOW_TO_BUILD
        )
    built = root / CANONICAL
    if built.is_file():
        return built
    if shutil.which("cargo") is None:
        raise ComponentNotFound(f"no component at {built} and cargo is not installed; " + HOW_TO_BUILD)
    try:
        subprocess.run(CARGO_COMMAND, cwd=root, check=True)
    except subprocess.CalledProcessError as e:
        raise ComponentNotFound(f"`{' '.join(CARGO_COMMAND)}` failed ({e}); " + HOW_TO_BUILD) from e
    if not built.is_file():
        raise ComponentNotFound(f"cargo succeeded but {built} is missing; " + HOW_TO_BUILD)
    return built


class BuildPyWithComponent(build_py):
    """build_py that first puts the component into the package as package data."""

    def run(self):
        source = find_component()
        if source.resolve() != PACKAGED.resolve():
            # Copy to a temporary name and rename, so that an interrupted build never
            # leaves a truncated component behind to be packaged next time.
            partial = PACKAGED.with_suffix(".wasm.partial")
            shutil.copyfile(source, partial)
            os.replace(partial, PACKAGED)
        # pip builds in the source tree and reuses build/: clear the package's old
        # copy there, or a module deleted from src/ would still be packaged.
        shutil.rmtree(os.path.join(self.build_lib, "pipeline_checkpoint"), ignore_errors=True)
        super().run()


setup(cmdclass={"build_py": BuildPyWithComponent})
