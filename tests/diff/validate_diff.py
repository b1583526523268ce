#!/usr/bin/env python3
"""Differential test of the engine's decoder and validator against wabt's (wasm-validate).

Each seed takes a module from wasm_diff.py's generator, compiles it with wat2wasm, and makes
mutants of its binary: bytes flipped, replaced, inserted or deleted, most of them inside the
code section, where the validator's type rules matter most. Every mutant goes through
`sluice-wasm validate` and `wasm-validate`; they must agree on accepting or refusing it. A
module the engine accepts but should refuse is worse than a crash: the interpreter trusts
validated code. (wabt runs without SIMD, which the engine does not implement; the other
proposals it lacks are off in wabt by default.) wabt is lenient in places (it takes a constant
expression cut off by its section's end), so when the two differ, V8 (node's
WebAssembly.validate) decides: the mutant counts as a failure unless V8 sides with the
engine.

  validate_diff.py --sluice-wasm PATH [--seeds A:B] [--mutants N] [--seconds N] [--keep DIR]

One test per seed; prints each disagreeing mutant, then "N passed, N failed"."""

import argparse
import os
import random
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wasm_diff  # noqa: E402

WABT_OFF = ["--disable-simd"]  # the other proposals the engine lacks are off by default


def sections(b):
    """(id, payload start, payload end) of each section; stops at the first bad length."""
    out = []
    i = 8
    while i < len(b):
        sid = b[i]
        i += 1
        n = shift = 0
        while i < len(b):
            c = b[i]
            i += 1
            n |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                break
        out.append((sid, i, min(i + n, len(b))))
        i += n
    return out


def mutate(r, b, code):
    """One to three edits of b, in the code section (code = (start, end)) four times in five."""
    b = bytearray(b)
    for _ in range(r.randint(1, 3)):
        lo, hi = code if code and r.random() < 0.8 else (8, len(b))
        if hi <= lo:
            lo, hi = 8, len(b)
        at = r.randrange(lo, hi)
        k = r.random()  # mostly in place: body sizes stay right, so types decide
        if k < 0.6:
            b[at] = r.choice([0x00, 0x01, 0x0B, 0x0C, 0x0D, 0x1A, 0x1B, 0x20, 0x21, 0x41, 0x42,
                              0x6A, 0x7C, 0x7F, 0x7E, 0x7D, 0x7C, 0x40, 0x80, 0xFC,
                              r.randrange(256)])
        elif k < 0.9:
            b[at] ^= 1 << r.randrange(8)
        elif k < 0.95:
            b.insert(at, r.randrange(256))
        else:
            del b[at]
    return bytes(b)


def accepts(cmd, path):
    p = subprocess.run(cmd + [path], capture_output=True, text=True, timeout=20)
    return p.returncode == 0, (p.stdout + p.stderr).strip()


V8_VALIDATE = ("const b = require('fs').readFileSync(process.argv[1]);"
               "process.stdout.write(WebAssembly.validate(b) ? 'valid' : 'invalid')")


def v8_accepts(path):
    """V8's verdict, or None without node."""
    if not shutil.which("node"):
        return None
    p = subprocess.run(["node", "-e", V8_VALIDATE, path], capture_output=True, text=True,
                       timeout=30)
    return {"valid": True, "invalid": False}.get(p.stdout.strip())


def one_seed(args, seed, work, r):
    g = wasm_diff.Gen(seed)
    wat = os.path.join(work, "m.wat")
    base = os.path.join(work, "m.wasm")
    with open(wat, "w") as f:
        f.write(g.module(4))
    if subprocess.run(["wat2wasm", wat, "-o", base], capture_output=True).returncode:
        return ["the generator wrote a module wat2wasm refuses"]
    with open(base, "rb") as f:
        orig = f.read()
    code = next(((s, e) for sid, s, e in sections(orig) if sid == 10), None)
    bad = []
    for i in range(args.mutants):
        m = mutate(r, orig, code)
        path = os.path.join(work, f"s{seed}-{i}.wasm")
        with open(path, "wb") as f:
            f.write(m)
        ours, why_ours = accepts([args.sluice_wasm, "validate"], path)
        theirs, why_theirs = accepts(["wasm-validate"] + WABT_OFF, path)
        if ours != theirs and v8_accepts(path) == ours:
            os.unlink(path)  # wabt alone: one of its leniencies
            continue
        if ours != theirs:
            verdict = "accepts" if ours else "refuses"
            bad.append(f"mutant {i}: sluice-wasm {verdict}, wasm-validate does not "
                       f"(sluice-wasm: {why_ours[:160]!r}; wasm-validate: {why_theirs[:160]!r})")
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                shutil.copy(path, args.keep)
        else:
            os.unlink(path)
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sluice-wasm", required=True)
    ap.add_argument("--seeds", default="1:100", help="A:B, seeds A to B-1")
    ap.add_argument("--mutants", type=int, default=40, help="mutants per seed")
    ap.add_argument("--seconds", type=float, default=0, help="stop starting seeds after this")
    ap.add_argument("--keep", help="copy disagreeing mutants into this folder")
    args = ap.parse_args()
    return wasm_diff.run_seeds(
        "validate-diff", ("wat2wasm", "wasm-validate"), args.seeds, args.seconds,
        lambda seed, work: one_seed(args, seed, work, random.Random(seed * 7919))[:5],
        detail=f"{args.mutants} mutants each, ")


if __name__ == "__main__":
    sys.exit(main())
