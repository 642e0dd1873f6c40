"""The component, compiled once per process.

Compiling takes ~100 ms and every manager needs the same code, so the first manager
compiles it and every later one, in any thread, instantiates the cached Component.
"""

import threading
from pathlib import Path
from typing import Optional, Tuple

import wasmtime
from wasmtime.component import Component

from .errors import CheckpointError

#: Where the build put the component (setup.py copies it in as package data).
COMPONENT_FILE = Path(__file__).with_name("pipeline_checkpoint.wasm")

_lock = threading.Lock()
_loaded: Optional[Tuple[wasmtime.Engine, Component]] = None


def load() -> Tuple[wasmtime.Engine, Component]:
    """The engine and the compiled component, compiled on the first call."""
    global _loaded
    with _lock:
        if _loaded is None:
            if not COMPONENT_FILE.is_file():
                raise CheckpointError(
                    f"the package has no component at {COMPONENT_FILE}: it was installed without "
                    "being built; reinstall it with `pip install ./bindings/python` from a clone"
                )
            engine = wasmtime.Engine()
            _loaded = (engine, Component.from_file(engine, str(COMPONENT_FILE)))
        return _loaded
