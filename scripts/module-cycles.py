#!/usr/bin/env python3
"""Finds import circles between the modules of each crate in the workspace.

A module "imports" another when its file names it by path: `crate::a::b`, `super::x`,
`self::x` (in `use` lines or inline). A circle is a set of two or more modules that reach one
another through such imports (a strongly connected component), parent and child included:
`ops/mod.rs` calling `ops::grants` while `ops/grants.rs` uses `super::Request` is a circle.
Declaring a child (`mod grants;`) is not an import.

Usage: scripts/module-cycles.py [CRATE_DIR ...]   (default: every workspace member)
Prints each circle and exits 1 when there is one; exits 0 when there is none.
"""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def workspace_members():
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    return [ROOT / m for m in manifest["workspace"]["members"]]


def module_files(src: Path):
    """Map of module path (tuple) to file, for every file of one crate target."""
    modules = {}
    for file in sorted(src.rglob("*.rs")):
        rel = file.relative_to(src)
        parts = list(rel.with_suffix("").parts)
        if parts and parts[0] == "bin":
            continue  # separate crates
        if parts[-1] in ("lib", "main") and len(parts) == 1:
            parts = []
        elif parts[-1] == "mod":
            parts = parts[:-1]
        modules[tuple(parts)] = file
    return modules


PATH_RE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP_RE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*?)\}", re.S)


def strip_comments(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def resolve(base, segments, modules):
    """The longest module path that `base + segments` starts with."""
    path = list(base)
    for seg in segments:
        if seg == "super":
            path = path[:-1]
        elif seg == "self":
            continue
        else:
            path.append(seg)
    while path and tuple(path) not in modules:
        path.pop()
    return tuple(path)


def references(module, text, modules):
    text = strip_comments(text)
    # Expand `use crate::a::{b, c::d}` one level so `b` and `c::d` are seen.
    paths = []
    for m in USE_GROUP_RE.finditer(text):
        head = [m.group(1)] + [s for s in m.group(2).split("::") if s]
        for item in re.split(r",", m.group(3)):
            item = item.strip().split(" as ")[0].strip()
            item = item.split("::{")[0]
            if item and item not in ("self", "*"):
                paths.append(head + [s for s in item.split("::") if s and s != "*"])
            else:
                paths.append(head)
    for m in PATH_RE.finditer(text):
        paths.append([m.group(1)] + [s for s in m.group(2).split("::") if s])
    # A child named without a prefix (`grants::handle` in ops/mod.rs) is a path relative to here.
    for child in {m[len(module)] for m in modules if len(m) == len(module) + 1 and m[: len(module)] == module}:
        for m in re.finditer(r"(?<![:\w])" + re.escape(child) + r"((?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
            paths.append(["self", child] + [s for s in m.group(1).split("::") if s])
    targets = set()
    for path in paths:
        kind, rest = path[0], path[1:]
        if kind == "crate":
            base, segs = (), rest
        elif kind == "super":
            base, segs = module[:-1], rest
            while segs and segs[0] == "super":
                base, segs = base[:-1], segs[1:]
        else:
            base, segs = module, rest
        target = resolve(base, segs, modules)
        if target != module:
            targets.add(target)
    return targets


def circles(src: Path):
    modules = module_files(src)
    graph = {m: references(m, f.read_text(), modules) for m, f in modules.items()}
    # Tarjan's strongly connected components.
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def name(module):
    return "::".join(("crate",) + module)


def main(argv):
    crates = [Path(a).resolve() for a in argv] or workspace_members()
    found = 0
    checked = 0
    for crate in crates:
        src = crate / "src"
        if not src.is_dir():
            continue
        checked += 1
        for component in circles(src):
            found += 1
            rel = crate.relative_to(ROOT)
            print(f"{rel}: circle of {len(component)} modules: " + ", ".join(name(m) for m in component))
    if found:
        print(f"module-cycles: {found} circle(s) in {checked} crates")
        return 1
    print(f"module-cycles: no circles in {checked} crates")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
