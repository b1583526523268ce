#!/usr/bin/env python3
"""Differential test of the engine against wabt's reference interpreter (wasm-interp).

Each seed generates a random, well-typed module: integer and float expressions over few locals
(so that locals are read, then overwritten, in the same expression: the cases the engine's
compiler rewrites), loads and stores, bulk memory and passive data, globals, two tables,
direct, indirect, two-result, recursive and host calls, blocks and loops with parameters,
if/else, br_if and br_table with values, select, early returns, and exports that fold every
local and global into one i64. wasm-interp runs every export in order and its answers (a value
or a trap) become a wast script that `sluice-wasm spec` checks on one instance of the same
module, so memory, tables and globals carry from one export to the next in both. A final
export sums memory.

The spec leaves a NaN's bits open (sign included), so none may decide a result: floats are
stored with NaNs replaced, folded as their bits unless they are NaNs, and copysign takes its
sign from a number only.

  wasm_diff.py --sluice-wasm PATH [--seeds A:B] [--seconds N] [--keep DIR] [-v]

Prints one line per seed that differs, then "N passed, N failed" (one test per seed).
Exit 1 on any difference or tool failure."""

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

I32_BIN = ["add", "sub", "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor", "shl",
           "shr_s", "shr_u", "rotl", "rotr"]
CMP = ["eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"]
TYPES = ["i32", "i64", "f32", "f64"]
F_BIN = ["add", "sub", "mul", "div", "min", "max"]
F_UN = ["abs", "neg", "sqrt", "ceil", "floor", "trunc", "nearest"]
F_CMP = ["eq", "ne", "lt", "gt", "le", "ge"]
LOADS = {"i32": [("i32.load", 4), ("i32.load8_s", 1), ("i32.load8_u", 1), ("i32.load16_s", 2),
                 ("i32.load16_u", 2)],
         "i64": [("i64.load", 8), ("i64.load8_s", 1), ("i64.load8_u", 1), ("i64.load16_s", 2),
                 ("i64.load16_u", 2), ("i64.load32_s", 4), ("i64.load32_u", 4)]}
STORES = {"i32": ["i32.store", "i32.store8", "i32.store16"],
          "i64": ["i64.store", "i64.store8", "i64.store16", "i64.store32"]}
# wasm-interp's trap texts (before any ':') and the spec's, which `sluice-wasm spec` matches
TRAPS = {"integer divide by zero": "integer divide by zero",
         "invalid conversion to integer": "invalid conversion to integer",
         "integer overflow": "integer overflow",
         "out of bounds memory access": "out of bounds memory access",
         "unreachable executed": "unreachable",
         "undefined table index": "undefined element",
         "uninitialized table element": "uninitialized element",
         "indirect call signature mismatch": "indirect call type mismatch",
         "out of bounds table access": "out of bounds table access"}


class Gen:
    """One module's text. Locals: per function a few of each type, plus loop counters that
    only loops touch (so every loop ends)."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.helpers = []  # (name, params, result)

    def const(self, t):
        r = self.r
        if t == "i32":
            v = r.choice([0, 1, 2, -1, 7, 31, 32, 255, 256, 0x7fffffff, -0x80000000, 65535,
                          65536, r.randrange(-2**31, 2**31), r.randrange(0, 64)])
            return f"(i32.const {v})"
        if t == "i64":
            v = r.choice([0, 1, -1, 63, 64, 2**63 - 1, -2**63, 2**32, 0xffffffff,
                          r.randrange(-2**63, 2**63), r.randrange(0, 128)])
            return f"(i64.const {v})"
        big = "1e300" if t == "f64" else "1e30"
        v = r.choice(["0", "-0", "1", "-1.5", "0.5", big, "-" + big, "inf", "-inf", "nan",
                      "2147483648", "4294967296.5", repr(r.uniform(-1e6, 1e6))])
        return f"({t}.const {v})"

    def cond(self, d):
        """A branch condition: often a comparison, which the compiler fuses with the branch."""
        if self.r.random() < 0.5:
            t = self.r.choice(["i32", "i32", "i64"])
            c = self.r.choice(CMP)
            e = f"({t}.{c} {self.expr(t, d)} {self.expr(t, d)})"
            return e if self.r.random() < 0.8 else f"(i32.eqz {e})"
        return self.expr("i32", d)

    def trips(self):
        """Loop trip counts: short in helpers, which loops may call (nesting multiplies)."""
        return [1, 2, 3] if self.fn["name"].startswith("$h") else [1, 2, 3, 5, 17]

    def limit(self, t):
        """A float at or near the edge of an integer conversion's range."""
        v = self.r.choice(["2147483647.9", "2147483648", "-2147483648.9", "-2147483649",
                           "4294967295.9", "4294967296", "-0.99", "-1", "9223372036854775807",
                           "9.2233720368547748e18", "-9.2233720368547758e18",
                           "1.8446744073709550e19", "1.8446744073709552e19", "nan", "-inf",
                           "0x1.fffffep+30", "-0x1p+31", "0x1.fffffep+62"])
        return f"({t}.const {v})"

    def addr(self, d, size):
        """An address that is in bounds nearly always; now and then anywhere."""
        k = self.r.random()
        if k < 0.005:
            return self.expr("i32", d)
        a = f"(i32.and {self.expr('i32', d)} (i32.const {0xeff7}))"  # room for addend, offset
        if k < 0.25:  # an added constant the compiler folds into the access (it still wraps)
            c = self.r.choice([4, 16, 1000, 8, 64, -4, -8])
            if c < 0 and self.r.random() < 0.9:  # below 0 it wraps to 4 GiB: now and then
                a = f"(i32.or {a} (i32.const 256))"
            return f"(i32.add {a} (i32.const {c}))"
        return a

    def expr(self, t, d):
        r = self.r
        f = self.fn
        if d <= 0 or r.random() < 0.15:
            k = r.random()
            if k < 0.45:
                return f"(local.get {r.choice(f['locals'][t])})"
            if k < 0.55 and t in ("i32", "i64"):
                return f"(global.get $g{t})"
            return self.const(t)
        d -= 1
        if r.random() < 0.12:
            e = self.extra(t, d)
            if e:
                return e
        k = r.random()
        if k < 0.12:  # a write of a local inside an expression, often of one read nearby
            return f"(local.tee {r.choice(f['locals'][t])} {self.expr(t, d)})"
        if t in ("i32", "i64"):
            if k < 0.40:
                op = r.choice(I32_BIN)
                b = self.expr(t, d)
                if op[:3] in ("div", "rem") and r.random() < 0.85:  # a trap now and then only
                    b = f"({t}.or {b} ({t}.const 1))"
                return f"({t}.{op} {self.expr(t, d)} {b})"
            if k < 0.50:
                u = r.choice(["i32", "i64", "f64", "f32"])
                if u in ("i32", "i64"):
                    c = r.choice(CMP + ["eqz"])
                    if c == "eqz":
                        e = f"({u}.eqz {self.expr(u, d)})"
                    else:
                        e = f"({u}.{c} {self.expr(u, d)} {self.expr(u, d)})"
                else:
                    e = f"({u}.{r.choice(F_CMP)} {self.expr(u, d)} {self.expr(u, d)})"
                return e if t == "i32" else f"(i64.extend_i32_u {e})"
            if k < 0.58:
                op, size = r.choice(LOADS[t])
                off = r.choice([0, 0, 1, 4, 8, 100])
                return f"({op} offset={off} {self.addr(d, size)})"
            if k < 0.64:
                un = r.choice(["clz", "ctz", "popcnt", "extend8_s", "extend16_s"] +
                              (["extend32_s"] if t == "i64" else []))
                return f"({t}.{un} {self.expr(t, d)})"
            if k < 0.69:
                if t == "i32":
                    return f"(i32.wrap_i64 {self.expr('i64', d)})"
                return f"(i64.extend_i32_{r.choice('su')} {self.expr('i32', d)})"
            if k < 0.73:
                ft = r.choice(["f32", "f64"])
                if r.random() < 0.1:  # the trapping form, at its limits
                    return f"({t}.trunc_{ft}_{r.choice('su')} {self.limit(ft)})"
                return f"({t}.trunc_sat_{ft}_{r.choice('su')} {self.expr(ft, d)})"
        else:
            if k < 0.40:
                return f"({t}.{r.choice(F_BIN)} {self.expr(t, d)} {self.expr(t, d)})"
            if k < 0.45:  # the sign of a NaN is not specified: copy only a number's
                b = f"(local.get {r.choice(f['locals'][t])})"
                return (f"({t}.copysign {self.expr(t, d)} (select {b} ({t}.const 1) "
                        f"({t}.eq {b} {b})))")
            if k < 0.55:
                return f"({t}.{r.choice(F_UN)} {self.expr(t, d)})"
            if k < 0.65:
                it = r.choice(["i32", "i64"])
                return f"({t}.convert_{it}_{r.choice('su')} {self.expr(it, d)})"
            if k < 0.70:  # (a load may read a NaN: its bits came from integer stores, fixed)
                return f"({t}.load offset={r.choice([0, 4])} {self.addr(d, 8)})"
            if k < 0.75:
                if t == "f64":
                    return f"(f64.promote_f32 {self.expr('f32', d)})"
                return f"(f32.demote_f64 {self.expr('f64', d)})"
        if k < 0.79:
            return f"(select {self.expr(t, d)} {self.expr(t, d)} {self.expr('i32', d)})"
        if k < 0.84:
            return (f"(if (result {t}) {self.cond(d)} (then {self.stmts(d, 2)} "
                    f"{self.expr(t, d)}) (else {self.expr(t, d)}))")
        if k < 0.89:  # a value out of a block by br_if, or past it
            return (f"(block (result {t}) {self.stmts(d, 2)} (drop (br_if 0 {self.expr(t, d)} "
                    f"{self.expr('i32', d)})) {self.expr(t, d)})")
        if k < 0.92 and t in ("i32", "i64"):
            if r.random() < 0.5:  # the table's branches carry a value
                return (f"(block (result {t}) (block (result {t}) (br_table 0 1 "
                        f"{self.expr(t, d)} {self.expr('i32', d)})) {self.const(t)} ({t}.xor))")
            return (f"(block (result {t}) (block (block (br_table 0 1 {self.expr('i32', d)}))"
                    f" (br 1 {self.expr(t, d)})) {self.expr(t, d)})")
        callable_ = [h for h in self.helpers if h[2] == t and h[0] != f["name"]]
        if callable_ and self.depth_calls < 3:
            name, params, _ = r.choice(callable_)
            self.depth_calls += 1
            args = " ".join(self.expr(p, d) for p in params)
            self.depth_calls -= 1
            return f"(call {name} {args})"
        return f"({t}.add {self.expr(t, d)} {self.const(t)})"

    def extra(self, t, d):
        """The rarer shapes: blocks and loops with parameters, indirect and multi-value calls,
        recursion, memory growth, long chains of deferred local reads, early returns."""
        r = self.r
        f = self.fn
        k = r.randrange(11)
        if k == 0:  # a block that takes parameters, stores them, and may branch out
            ps = [r.choice(TYPES) for _ in range(r.randint(1, 3))]
            pre = " ".join(self.expr(p, d) for p in ps)
            sets = " ".join(f"(local.set {r.choice(f['locals'][p])})" for p in reversed(ps))
            return (f"(block (result {t}) {pre} (block (param {' '.join(ps)}) (result {t}) "
                    f"{sets} {self.stmts(d, 2)} (drop (br_if 0 {self.expr(t, d)} "
                    f"{self.expr('i32', d)})) {self.expr(t, d)}))")
        if k == 1 and f["loops"] < len(f["counters"]):  # a loop with a parameter
            c = f["counters"][f["loops"]]
            f["loops"] += 1
            p = r.choice(TYPES)
            x = r.choice(f["locals"][p])
            n = r.choice(self.trips())
            body = (f"(local.set {x}) {self.stmts(d, 2)} (br_if 0 {self.expr(p, d)} "
                    f"(local.tee {c} (i32.sub (local.get {c}) (i32.const 1))))")
            f["loops"] -= 1
            # the entry value may hold a loop on the same counter: it runs before the set
            return (f"(block (result {t}) {self.expr(p, d)} (local.set {c} (i32.const {n})) "
                    f"(loop (param {p}) (result {t}) {body} (drop) {self.expr(t, d)}))")
        if k == 2 and self.helpers and self.depth_calls < 3:  # through the table
            i = r.randrange(len(self.helpers))
            name, params, res = self.helpers[i]
            self.depth_calls += 1
            args = " ".join(self.expr(p, d) for p in params)
            self.depth_calls -= 1
            # now and then any slot: a wrong type, or an empty one (not from a helper, which
            # could reach itself and recurse without end)
            idx = (f"(i32.const {i})" if r.random() < 0.9 or f["name"].startswith("$h") else
                   f"(i32.and {self.expr('i32', d)} (i32.const 7))")
            ptxt = f"(param {' '.join(params)}) " if params else ""
            call = f"(call_indirect {ptxt}(result {res}) {args} {idx})"
            return call if res == t else f"(block (result {t}) (drop {call}) {self.expr(t, d)})"
        if k == 3 and self.depth_calls < 3:  # two results
            self.depth_calls += 1
            call = f"(call $pair {self.expr('i32', d)} {self.expr('i64', d)})"
            self.depth_calls -= 1
            return (f"(block (result {t}) {call} (local.set {r.choice(f['locals']['i64'])}) "
                    f"(local.set {r.choice(f['locals']['i32'])}) {self.expr(t, d)})")
        if k == 4 and t == "i64" and self.depth_calls < 3:  # recursion, at most 15 deep
            self.depth_calls += 1
            e = (f"(call $rec (i32.and {self.expr('i32', d)} (i32.const 15)) "
                 f"{self.expr('i64', d)})")
            self.depth_calls -= 1
            return e
        if k == 5 and t == "i32":
            if r.random() < 0.5:
                return "(memory.size)"
            return f"(memory.grow (i32.and {self.expr('i32', d)} (i32.const 1)))"
        if k == 6 and t in ("i32", "i64"):  # more deferred reads than the compiler keeps
            xs = f["locals"][t]
            e = f"(local.tee {r.choice(xs)} {self.expr(t, 1)})"
            for _ in range(r.randint(12, 24)):
                e = f"({t}.{r.choice(['add', 'sub', 'xor', 'mul'])} (local.get {r.choice(xs)}) {e})"
            return e
        if k == 8 and t == "i32":
            kk = r.randrange(3)
            if kk == 0:
                return f"(ref.is_null (table.get $t2 (i32.and {self.expr('i32', d)} (i32.const 7))))"
            if kk == 1:
                return "(table.size $t2)"
            hs = [h for h in self.helpers if not h[1] and h[2] == "i32"]
            if hs and self.depth_calls < 3:  # an entry set, null, or a helper of another type
                return (f"(call_indirect $t2 (result i32) (i32.and {self.expr('i32', d)} "
                        f"(i32.const 3)))")
        if k == 9:  # a host call between an operand and its use
            return (f"({t}.add {self.expr(t, d)} (block (result {t}) (call $print_i64 "
                    f"{self.expr('i64', d)}) {self.expr(t, d)}))")
        if k == 7:  # an early return from inside a block
            return (f"(block (result {t}) (if {self.expr('i32', d)} (then (return "
                    f"{self.expr(f['result'], d)}))) {self.expr(t, d)})")
        return None

    def stmt(self, d):
        r = self.r
        f = self.fn
        k = r.random()
        t = r.choice(["i32", "i64", "i64", "i32", "f64", "f32"])
        if k < 0.35 or d <= 0:
            return f"(local.set {r.choice(f['locals'][t])} {self.expr(t, max(d, 1))})"
        if k < 0.45 and t in ("i32", "i64"):
            return f"(global.set $g{t} {self.expr(t, d)})"
        if k < 0.50 and t in ("f32", "f64"):  # a NaN's bits must not reach memory
            x = r.choice(f["locals"][t])
            return (f"({t}.store offset={r.choice([0, 4, 8])} {self.addr(d - 1, 8)} (select "
                    f"(local.get {x}) ({t}.const 0.25) ({t}.eq (local.get {x}) (local.get {x}))))")
        if k < 0.62:
            it = r.choice(["i32", "i64"])
            op = r.choice(STORES[it])
            off = r.choice([0, 0, 2, 8, 64])
            return f"({op} offset={off} {self.addr(d - 1, 8)} {self.expr(it, d - 1)})"
        if k < 0.72:
            return (f"(if {self.cond(d - 1)} (then {self.stmts(d - 1, 3)}) "
                    f"(else {self.stmts(d - 1, 2)}))")
        if k < 0.82 and f["loops"] < len(f["counters"]):
            c = f["counters"][f["loops"]]
            f["loops"] += 1
            n = r.choice(self.trips())
            body = self.stmts(d - 1, 3)
            f["loops"] -= 1
            return (f"(local.set {c} (i32.const {n})) (loop {body} (br_if 0 (local.tee {c} "
                    f"(i32.sub (local.get {c}) (i32.const 1)))))")
        if k < 0.90:
            return (f"(block {self.stmts(d - 1, 2)} (br_if 0 {self.cond(d - 1)}) "
                    f"{self.stmts(d - 1, 2)})")
        if k < 0.94:
            return (f"(block (block (block (br_table 0 1 2 {self.expr('i32', d - 1)})) "
                    f"{self.stmts(d - 1, 1)}) {self.stmts(d - 1, 1)})")
        if k < 0.96:
            ln = f"(i32.and {self.expr('i32', d - 1)} (i32.const 63))"
            if r.random() < 0.5:
                return f"(memory.fill {self.addr(d - 1, 64)} {self.expr('i32', d - 1)} {ln})"
            return f"(memory.copy {self.addr(d - 1, 64)} {self.addr(d - 1, 64)} {ln})"
        if k < 0.965:
            return f"(if (i32.eqz {self.expr('i32', d - 1)}) (then (unreachable)))"
        if k < 0.97:  # a host function: the values live across it must stay put
            return r.choice([f"(call $print_i32 {self.expr('i32', d - 1)})",
                             f"(call $print_i64 {self.expr('i64', d - 1)})",
                             f"(call $print_f64 {self.expr('f64', d - 1)})",
                             f"(call $print_i32_f32 {self.expr('i32', d - 1)} "
                             f"{self.expr('f32', d - 1)})"])
        if k < 0.975:  # the passive segment: in bounds or not, dropped or not
            if r.random() < 0.05:
                return "(data.drop $pd)"
            n = r.choice([31, 31, 31, 63])
            return (f"(memory.init $pd {self.addr(d - 1, 64)} (i32.and {self.expr('i32', d - 1)} "
                    f"(i32.const 31)) (i32.and {self.expr('i32', d - 1)} (i32.const {n})))")
        if k < 0.99 and self.helpers:  # the second table: set, grow, fill
            h = r.choice(self.helpers)[0]
            ref = r.choice([f"(ref.func {h})", "(ref.null func)"])
            idx = f"(i32.and {self.expr('i32', d - 1)} (i32.const {r.choice([1, 1, 1, 3])}))"
            kk = r.randrange(3)
            if kk == 0:
                return f"(table.set $t2 {idx} {ref})"
            if kk == 1:
                return f"(drop (table.grow $t2 {ref} (i32.and {self.expr('i32', d - 1)} (i32.const 3))))"
            return f"(table.fill $t2 {idx} {ref} (i32.and {self.expr('i32', d - 1)} (i32.const 3)))"
        return f"(drop {self.expr(t, d)})"

    def stmts(self, d, n):
        return " ".join(self.stmt(d) for _ in range(self.r.randint(0, n)))

    def fold(self, f):
        """Every local and global, folded into one i64 (rotated so that order matters)."""
        acc = "(i64.const 0)"
        parts = []
        for t, ls in f["locals"].items():
            for x in ls:
                if t == "i32":
                    parts.append(f"(i64.extend_i32_u (local.get {x}))")
                elif t == "i64":
                    parts.append(f"(local.get {x})")
                elif t == "f64":  # exact bits, signed zeros included; any NaN counts alike
                    parts.append(f"(select (i64.reinterpret_f64 (local.get {x})) (i64.const 7) "
                                 f"(f64.eq (local.get {x}) (local.get {x})))")
                else:
                    parts.append(f"(select (i64.extend_i32_u (i32.reinterpret_f32 (local.get {x})))"
                                 f" (i64.const 7) (f32.eq (local.get {x}) (local.get {x})))")
        parts += ["(i64.extend_i32_u (global.get $gi32))", "(global.get $gi64)"]
        for p in parts:
            acc = f"(i64.xor (i64.rotl {acc} (i64.const 7)) {p})"
        return acc

    def func(self, name, params, result, depth, export):
        r = self.r
        locals_ = {t: [] for t in ("i32", "i64", "f32", "f64")}
        decl = []
        for i, p in enumerate(params):
            locals_[p].append(f"$p{i}")
            decl.append(f"(param $p{i} {p})")
        decl.append(f"(result {result})")
        if r.random() < 0.3:  # unused locals first: the ones in use get indexes past 64
            pad = r.choice(["i32", "i64", "f64"])
            decl += [f"(local {pad})"] * r.randint(1, 80)
        for t in locals_:
            for i in range(r.randint(1, 3)):
                locals_[t].append(f"${t}_{i}")
                decl.append(f"(local ${t}_{i} {t})")
        counters = [f"$c{i}" for i in range(3)]
        decl += [f"(local {c} i32)" for c in counters]
        self.fn = {"name": name, "locals": locals_, "counters": counters, "loops": 0,
                   "result": result}
        self.depth_calls = 0
        body = self.stmts(depth, 6)
        if result == "i64" and export:
            tail = f"(i64.add {self.fold(self.fn)} {self.expr('i64', depth)})"
        else:
            tail = self.expr(result, depth)
        ex = f'(export "{name[1:]}")' if export else ""
        return f"  (func {name} {ex} {' '.join(decl)}\n    {body}\n    {tail})"

    def module(self, nexports):
        r = self.r
        # host functions without results: wabt's dummies and sluice-wasm's spectest module
        # do nothing alike, so a call checks only that the interpreter's state survives it
        out = ["(module",
               '  (import "spectest" "print_i32" (func $print_i32 (param i32)))',
               '  (import "spectest" "print_i64" (func $print_i64 (param i64)))',
               '  (import "spectest" "print_f64" (func $print_f64 (param f64)))',
               '  (import "spectest" "print_i32_f32" (func $print_i32_f32 (param i32 f32)))',
               "  (memory 1 3)",
               "  (global $gi32 (mut i32) (i32.const 12345))",
               "  (global $gi64 (mut i64) (i64.const -987654321))"]
        data = bytes(r.randrange(256) for _ in range(256))
        out.append('  (data (i32.const 0) "' + "".join(f"\\{b:02x}" for b in data) + '")')
        funcs = []
        for i in range(r.randint(1, 3)):  # helpers call only helpers defined before them
            params = [r.choice(TYPES) for _ in range(r.choice([0, 1, 2, 3, 4, 10]))]
            res = r.choice(["i32", "i64", "f64"])
            name = f"$h{i}"
            funcs.append(self.func(name, params, res, 3, False))
            self.helpers.append((name, params, res))
        for i in range(nexports):
            funcs.append(self.func(f"$f{i}", [], "i64", r.randint(2, 5), True))
        # the table holds the helpers at their index; the slots after them stay empty
        out.append(f"  (table 8 funcref) (elem (i32.const 0) func "
                   f"{' '.join(h[0] for h in self.helpers)})")
        out.append("  (table $t2 2 8 funcref)")
        out.append('  (data $pd "' + "".join(f"\\{r.randrange(256):02x}" for _ in range(64)) +
                   '")')
        funcs.append("""  (func $pair (param i32 i64) (result i32 i64)
    (i32.xor (local.get 0) (i32.wrap_i64 (local.get 1)))
    (i64.rotl (local.get 1) (i64.extend_i32_u (local.get 0))))
  (func $rec (param $n i32) (param $a i64) (result i64)
    (if (result i64) (i32.eqz (local.get $n)) (then (local.get $a))
      (else (call $rec (i32.sub (local.get $n) (i32.const 1))
                       (i64.add (i64.mul (local.get $a) (i64.const 31))
                                (i64.extend_i32_u (local.get $n)))))))""")
        funcs.append("""  (func $memsum (export "memsum") (result i64) (local $i i32) (local $s i64)
    (loop (local.set $s (i64.add (i64.rotl (local.get $s) (i64.const 1))
                                 (i64.load (local.get $i))))
          (br_if 0 (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 8)))
                             (i32.const 65536))))
    (local.get $s))""")
        return "\n".join(out + funcs + [")"])


class Unusable(Exception):
    """wabt could not judge a module (an answer it cannot give, or no answer in time)."""


def reference(wasm, timeout=20):
    """wasm-interp's answers for every export, in order: (name, type, value) with type
    "i32" or "i64" and an unsigned value, or (name, "trap", spec text)."""
    try:
        p = subprocess.run(["wasm-interp", "--dummy-import-func", wasm, "--run-all-exports"],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Unusable(f"wasm-interp did not finish in {timeout} s")
    res = []
    for line in p.stdout.splitlines():
        m = re.match(r"^(\w+)\(\) => (.*)$", line)
        if not m:
            continue
        v = re.match(r"^(i32|i64):(\d+)$", m.group(2))
        if v:
            res.append((m.group(1), v.group(1), int(v.group(2))))
            continue
        text = m.group(2)[len("error: "):].split(":")[0].strip()
        if not m.group(2).startswith("error: ") or text not in TRAPS:
            raise Unusable(f"wasm-interp answered {m.group(2)[:100]!r} for {m.group(1)}")
        res.append((m.group(1), "trap", TRAPS[text]))
    if not res:
        raise Unusable(f"wasm-interp gave no answer: {p.stderr.strip()[:300]}")
    return res


def compare(sluice_wasm, wasm, work, stem):
    """The exports of `wasm` run in wasm-interp, then the same calls in one instance with
    `sluice-wasm spec` (files work/stem.*): None when the engine agrees, else what differs.
    Raises Unusable when wabt gives no answer to compare with."""
    ref = reference(wasm)
    with open(wasm, "rb") as f:
        hexed = "".join(f"\\{b:02x}" for b in f.read())
    cmds = [f'(module binary "{hexed}")']
    for name, kind, v in ref:
        if kind == "trap":
            cmds.append(f'(assert_trap (invoke "{name}") "{v}")')
        else:
            cmds.append(f'(assert_return (invoke "{name}") ({kind}.const {v}))')
    wast, js = os.path.join(work, f"{stem}.wast"), os.path.join(work, f"{stem}.json")
    with open(wast, "w") as f:
        f.write("\n".join(cmds) + "\n")
    p = subprocess.run(["wast2json", wast, "-o", js], capture_output=True, text=True)
    if p.returncode != 0:
        raise Unusable(f"wast2json: {p.stderr.strip()[:300]}")
    try:
        p = subprocess.run([sluice_wasm, "spec", js], capture_output=True, text=True,
                           timeout=60)
    except subprocess.TimeoutExpired:
        return "sluice-wasm did not finish in 60 s"
    m = re.search(r"^(\d+) passed, (\d+) failed", p.stdout, re.M)
    if p.returncode != 0 or not m or m.group(2) != "0":
        fails = [l for l in p.stdout.splitlines() + p.stderr.splitlines() if "FAIL" in l]
        return "differs from wasm-interp: " + ("; ".join(fails[:3]) or p.stdout[-300:])
    return None


def one_seed(args, seed, work):
    g = Gen(seed)
    text = g.module(args.exports)
    wat = os.path.join(work, f"m{seed}.wat")
    wasm = os.path.join(work, f"m{seed}.wasm")
    with open(wat, "w") as f:
        f.write(text)
    p = subprocess.run(["wat2wasm", wat, "-o", wasm], capture_output=True, text=True)
    if p.returncode != 0:
        return f"the generator wrote a module wat2wasm refuses: {p.stderr.strip()[:300]}"
    try:
        return compare(args.sluice_wasm, wasm, work, f"m{seed}")
    except Unusable as e:  # the generator's fault, not the engine's: still a failure
        return f"no reference answer: {e}"


def run_seeds(prog, tools, seeds, seconds, check, detail="", verbose=False):
    """The driver of both diff scripts: needs `tools` (wabt), then runs check(seed, work) for
    seeds "A:B" (A to B-1), starting none after `seconds` (0: no bound). check returns the
    lines that say how a seed failed, none when it passed. Prints them, then the count line;
    returns the exit status."""
    for tool in tools:
        if not shutil.which(tool):
            print(f"{prog}: {tool} (wabt) is not installed")
            print("0 passed, 1 failed")
            return 1
    a, b = (int(x) for x in seeds.split(":"))
    start = time.monotonic()
    passed = failed = 0
    work = tempfile.mkdtemp(prefix=f"sluice-{prog}-")
    try:
        for seed in range(a, b):
            if seconds and time.monotonic() - start > seconds:
                break
            bad = check(seed, work)
            if bad:
                failed += 1
                for line in bad:
                    print(f"not ok seed {seed}: {line}")
            else:
                passed += 1
                if verbose:
                    print(f"ok seed {seed}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {failed} failed (seeds {a} to {a + passed + failed - 1}, "
          f"{detail}{time.monotonic() - start:.0f} s)")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sluice-wasm", required=True)
    ap.add_argument("--seeds", default="1:200", help="A:B, seeds A to B-1 (default 1:200)")
    ap.add_argument("--seconds", type=float, default=0,
                    help="stop starting seeds after this long (0: no bound)")
    ap.add_argument("--exports", type=int, default=12, help="exported functions per module")
    ap.add_argument("--keep", help="write the modules of differing seeds into this folder")
    ap.add_argument("-v", action="store_true", help="a line for every seed")
    args = ap.parse_args()

    def check(seed, work):
        why = one_seed(args, seed, work)
        if why is None:
            return []
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            for ext in ("wat", "wast"):
                src = os.path.join(work, f"m{seed}.{ext}")
                if os.path.exists(src):
                    shutil.copy(src, args.keep)
        return [why]

    return run_seeds("wasm-diff", ("wat2wasm", "wast2json", "wasm-interp"), args.seeds,
                     args.seconds, check, verbose=args.v)


if __name__ == "__main__":
    sys.exit(main())
