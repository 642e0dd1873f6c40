//! The Python and JavaScript packages (`bindings/python`, `bindings/js`), each tested by
//! its own ecosystem's runner (pytest, `node --test`) against the component this
//! workspace builds, so that README's one test command covers them too.
//!
//! Where `python3` or `node` is missing the tests print `SKIPPED` and pass; CI sets
//! `PIPELINE_CHECKPOINT_REQUIRE_PYTHON=1` and `PIPELINE_CHECKPOINT_REQUIRE_NODE=1` so
//! that there they fail instead.

mod js;
mod python;
mod support;
