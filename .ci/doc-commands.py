#!/usr/bin/env python3
"""Runs the commands that README.md, RELIABILITY.md and BENCHMARKS.md give, so that none
of them goes stale: every line of their ```sh blocks is checked, from the workspace's
root, after `cargo test --workspace` has built everything.

How each kind of command is checked:
- `cargo test …`: run with `--list` after its `--`: cargo must accept the package, the
  target and its features, and the filter must name at least one test (`--ignored`
  ones too when the command asks for them). Running them all would take hours.
- `cargo bench …`: compiled as tests (`cargo test … --no-run`): the same package,
  features and target, in the profile the tests already built, not a release build.
- `cargo build --release …`: built in the debug profile, which the tests built.
- `cargo run [--release] -- ARGS` and `host-example ARGS`: run as written, each in a
  fresh scratch directory holding the files the examples name (`messages.jsonl`,
  `more-ids.txt`), by the debug binary the tests built; a command that needs a server
  (etcd, Redis, S3) or that is a benchmark (`--release`) has its arguments checked by
  the CLI's parser instead (`ARGS --help` must succeed).
- `python3 SCRIPT …`: `python3 SCRIPT --help` must succeed.
- Anything else (starting a server, installing a package, a profiler) names a tool the
  documents' reader runs; the script only checks that a file it names exists.

Usage: python3 .ci/doc-commands.py [--verbose]
"""

import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

DOCUMENTS = ["README.md", "RELIABILITY.md", "BENCHMARKS.md"]
BINARY = os.path.abspath("target/debug/host-example")
# The files the README's examples read, as a user would have them.
EXAMPLE_FILES = {
    "messages.jsonl": "".join(f'{{"id": "m-{n}", "n": {n}}}\n' for n in range(1, 51)),
    "more-ids.txt": "c\nd\n",
}
SERVER_SCHEMES = ("etcd://", "etcds://", "redis://", "s3://", "gs://", "az://", "abfs://")
# How long one example may run before it counts as hung.
TIMEOUT_S = 600


def commands(document):
    """(line number, command) for each command of the document's shell blocks, with
    continuation lines joined and comments removed."""
    found, block, pending, start = [], False, "", 0
    with open(document, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            stripped = line.strip()
            if stripped.startswith("```"):
                block = not block and re.match(r"```(sh|bash|shell)\b", stripped) is not None
                continue
            if not block or not stripped or stripped.startswith("#"):
                continue
            if not pending:
                start = number
            pending += " " + stripped
            if pending.endswith("\\"):
                pending = pending[:-1]
                continue
            found.append((start, strip_comment(pending.strip())))
            pending = ""
    return found


def strip_comment(command):
    """The command without a trailing `# comment` (outside quotes)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        words = list(lexer)
    except ValueError:
        return command
    # Re-quote each word so that the shell sees what the document wrote.
    return " ".join(shlex.quote(w) for w in words)


def split_env(words):
    """Leading `NAME=value` words as an environment, and the rest."""
    env = {}
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    return env, words


def run(argv, env=None, cwd=None, timeout=TIMEOUT_S):
    merged = dict(os.environ, **(env or {}))
    done = subprocess.run(argv, env=merged, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def check_cargo_test(words, env):
    cargo_args, test_args = split_at_dashes(words[2:])
    wanted_ignored = "--ignored" in test_args
    test_args = [a for a in test_args if a not in ("--nocapture", "--ignored")]
    argv = ["cargo", "test", "--locked", "--quiet", *cargo_args, "--", *test_args, "--list"]
    if wanted_ignored:
        argv.append("--ignored")
    code, out = run(argv, env)
    if code != 0:
        return f"`{' '.join(argv)}` failed:\n{out}"
    listed = [line for line in out.splitlines() if line.endswith(": test")]
    if not listed:
        return f"`{' '.join(argv)}` lists no test: the filter names none\n{out}"
    return None


def check_cargo_bench(words, env):
    cargo_args, _ = split_at_dashes(words[2:])
    argv = ["cargo", "test", "--locked", "--quiet", *[a for a in cargo_args if a != "--no-run"], "--no-run"]
    code, out = run(argv, env)
    return None if code == 0 else f"`{' '.join(argv)}` failed:\n{out}"


def check_cargo_build(words, env):
    argv = ["cargo", "build", "--locked", "--quiet", *[w for w in words[2:] if w != "--release"]]
    code, out = run(argv, env)
    return None if code == 0 else f"`{' '.join(argv)}` failed:\n{out}"


def check_cli(args, env, release):
    needs_server = any(scheme in arg for arg in args for scheme in SERVER_SCHEMES)
    with tempfile.TemporaryDirectory(prefix="doc-command-") as scratch:
        for name, text in EXAMPLE_FILES.items():
            with open(os.path.join(scratch, name), "w", encoding="utf-8") as f:
                f.write(text)
        if needs_server or release:
            argv = [BINARY, *args, "--help"]
        else:
            argv = [BINARY, *args]
        code, out = run(argv, env, cwd=scratch)
    return None if code == 0 else f"`{' '.join(argv)}` exited {code}:\n{out}"


def check_script(words, env):
    script = words[1]
    if not os.path.isfile(script):
        return f"{script} does not exist"
    code, out = run(["python3", script, "--help"], env)
    return None if code == 0 else f"`python3 {script} --help` exited {code}:\n{out}"


def check_names_files(words):
    missing = [w for w in words if w.startswith(("./", "host-example/", "bindings/")) and not os.path.exists(w)]
    return f"names missing files: {missing}" if missing else None


def split_at_dashes(words):
    if "--" in words:
        i = words.index("--")
        return words[:i], words[i + 1 :]
    return words, []


def check(command):
    """(how it was checked, the failure or None)."""
    env, words = split_env(shlex.split(command))
    if words[:2] == ["cargo", "test"]:
        return "listed", check_cargo_test(words, env)
    if words[:2] == ["cargo", "bench"]:
        return "compiled", check_cargo_bench(words, env)
    if words[:2] == ["cargo", "build"]:
        return "built", check_cargo_build(words, env)
    if words[:2] == ["cargo", "run"]:
        cargo_args, args = split_at_dashes(words[2:])
        release = "--release" in cargo_args
        how = "parsed" if release or any(s in command for s in SERVER_SCHEMES) else "ran"
        return how, check_cli(args, env, release)
    if words[0] == "host-example":
        how = "parsed" if any(s in command for s in SERVER_SCHEMES) else "ran"
        return how, check_cli(words[1:], env, False)
    if words[0] == "python3" and len(words) > 1 and words[1].endswith(".py"):
        return "--help", check_script(words, env)
    return "named", check_names_files(words)


def main():
    verbose = "--verbose" in sys.argv
    failures = 0
    for document in DOCUMENTS:
        for line, command in commands(document):
            started = time.monotonic()
            how, failure = check(command)
            how = f"{how}, {time.monotonic() - started:.1f} s"
            if failure:
                failures += 1
                print(f"FAILED {document}:{line} ({how}): {command}\n{failure}\n")
            elif verbose:
                print(f"ok     {document}:{line} ({how}): {command}")
    if failures:
        print(f"{failures} documented commands do not work as written")
        return 1
    print("every documented command works as written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
