#!/usr/bin/env python3
"""Shrinks a module on which the engine and wabt's interpreter differ (a .wat that
wasm_diff.py --keep saved) to a small one that still differs.

Greedy, over the s-expression tree: remove an element, or replace a list by one of its list
children; keep the change when the result still assembles, wasm-interp still answers every
export, and `sluice-wasm spec` still disagrees with it. Prints the smallest text found.

  reduce.py --sluice-wasm PATH FILE.wat"""

import argparse
import copy
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wasm_diff  # noqa: E402

TOKEN = re.compile(r'\(|\)|"(?:[^"\\]|\\.)*"|;;[^\n]*|[^\s()]+')


def parse(text):
    toks = [t for t in TOKEN.findall(text) if not t.startswith(";;")]
    pos = 0

    def node():
        nonlocal pos
        t = toks[pos]
        pos += 1
        if t != "(":
            return t
        items = []
        while toks[pos] != ")":
            items.append(node())
        pos += 1
        return items

    return node()


def show(n):
    return n if isinstance(n, str) else "(" + " ".join(show(c) for c in n) + ")"


def differs(tool, tree, work):
    """True if the module assembles, wasm-interp answers, and the engine disagrees."""
    wat, wasm = os.path.join(work, "r.wat"), os.path.join(work, "r.wasm")
    with open(wat, "w") as f:
        f.write(show(tree))
    if subprocess.run(["wat2wasm", wat, "-o", wasm], capture_output=True).returncode:
        return False
    try:
        return wasm_diff.compare(tool, wasm, work, "r") is not None
    except wasm_diff.Unusable:
        return False


def paths(n, pre=()):
    if isinstance(n, list):
        for i, c in enumerate(n):
            yield pre + (i,)
            yield from paths(c, pre + (i,))


def at(tree, path):
    for i in path:
        tree = tree[i]
    return tree


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sluice-wasm", required=True)
    ap.add_argument("file")
    args = ap.parse_args()
    with open(args.file) as f:
        tree = parse(f.read())
    with tempfile.TemporaryDirectory(prefix="sluice-reduce-") as work:
        if not differs(args.sluice_wasm, tree, work):
            print("reduce: the engine and wasm-interp agree on this module", file=sys.stderr)
            return 1
        changed = True
        while changed:
            changed = False
            for p in list(paths(tree)):
                try:
                    node = at(tree, p)
                except (IndexError, TypeError):
                    continue  # an earlier change moved it
                cands = [None] + ([c for c in node[1:] if isinstance(c, list)]
                                  if isinstance(node, list) else [])
                for c in cands:
                    t2 = copy.deepcopy(tree)
                    parent = at(t2, p[:-1])
                    if c is None:
                        del parent[p[-1]]
                    else:
                        parent[p[-1]] = copy.deepcopy(c)
                    if differs(args.sluice_wasm, t2, work):
                        tree, changed = t2, True
                        break
                if changed:
                    break
    print(show(tree))
    return 0


if __name__ == "__main__":
    sys.exit(main())
