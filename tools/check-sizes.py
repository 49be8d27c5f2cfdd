#!/usr/bin/env python3
"""Checks the size rules of the project's C++ sources.

  tools/check-sizes.py [--max-function N] [--max-file N] [--list] [DIR...]

Every .h/.cc file under the library and program folders (default: common,
shard, dense, cluster, launcher, tools) must hold at most --max-file lines
(600), and every function body at most --max-function lines (120), counted
from the line of its opening brace to the line of its closing brace. Exempt:
the restricted unpickler's opcode switch (one switch, one case per opcode).
Tests are not checked. Exits 1 and lists every violation, naming file, line
and function; --list prints the 15 longest functions too.
"""
import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_DIRS = ["common", "shard", "dense", "cluster", "launcher", "tools"]
# (file suffix, function name): allowed to exceed the function limit.
EXEMPT = {("shard/import/src/pickle.cc", "Unpickler::step")}


def strip_comments_and_strings(text):
    """Returns text with comments, string and char literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join("\n" if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == 'R' and text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            delim = ")" + (m.group(1) if m else "") + '"'
            j = text.find(delim, i)
            j = n if j < 0 else j + len(delim)
            out.append("".join("\n" if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


HEAD = re.compile(r"([~\w:<>,\s\*&\[\]]+?)\s*\(([^()]|\([^()]*\))*\)\s*(const)?\s*(noexcept)?\s*(override)?\s*"
                  r"(->\s*[\w:<>,\s\*&]+)?\s*(:[^{;]*)?$", re.S)
NOT_FUNCTIONS = {"if", "for", "while", "switch", "catch", "return", "sizeof", "decltype", "alignas", "defined"}


def functions(code):
    """Yields (name, first_line, last_line) for each function body at namespace or class level."""
    depth_stack = []  # for each open brace: is it a function body?
    line = 1
    start_line = {}
    last_stmt_end = 0
    in_function = 0
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c in ";}":
            if c == "}":
                is_fn, name, l0 = depth_stack.pop() if depth_stack else (False, None, 0)
                if is_fn:
                    in_function -= 1
                    yield name, l0, line
            last_stmt_end = i + 1
        elif c == "{":
            head = code[last_stmt_end:i]
            is_fn = False
            name = None
            if in_function == 0:
                h = " ".join(head.split())
                m = HEAD.search(h)
                if m:
                    words = re.findall(r"[~\w:]+", h.split("(")[0])
                    cand = words[-1] if words else ""
                    base = cand.split("::")[-1]
                    if base and base not in NOT_FUNCTIONS and not h.lstrip().startswith(("namespace", "struct", "class",
                                                                                          "enum", "union", "extern")):
                        is_fn, name = True, cand
            if is_fn:
                in_function += 1
            depth_stack.append((is_fn, name, line))
            last_stmt_end = i + 1
    return


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-function", type=int, default=120)
    ap.add_argument("--max-file", type=int, default=600)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("dirs", nargs="*", default=DEFAULT_DIRS)
    args = ap.parse_args()
    problems, longest = [], []
    for d in args.dirs:
        for path in sorted((ROOT / d).rglob("*")):
            if path.suffix not in (".h", ".cc") or "build" in path.relative_to(ROOT).parts[:1]:
                continue
            rel = path.relative_to(ROOT).as_posix()
            text = path.read_text()
            lines = text.count("\n")
            if lines > args.max_file:
                problems.append(f"{rel}: {lines} lines (at most {args.max_file}); split it by concept")
            for name, l0, l1 in functions(strip_comments_and_strings(text)):
                length = l1 - l0 + 1
                longest.append((length, rel, l0, name))
                if length > args.max_function and (rel, name) not in EXEMPT:
                    problems.append(f"{rel}:{l0}: function {name} is {length} lines (at most {args.max_function}); "
                                    "name its stages as functions")
    if args.list:
        for length, rel, l0, name in sorted(longest, reverse=True)[:15]:
            print(f"{length:5d}  {rel}:{l0}  {name}")
    for p in problems:
        print(p)
    if problems:
        print(f"check-sizes: {len(problems)} problem(s)")
        return 1
    print("check-sizes: every file and function within the limits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
