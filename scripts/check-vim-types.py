#!/usr/bin/env python3
"""Check router/src/vsphere/vim_types.txt (written by scripts/gen-vim-types.py).

Parses the table back and checks that it is self-contained and well formed:
every base type and every obj:T field type is defined in the file, every base
chain ends at DynamicData without cycles, no field is declared twice along a
chain, kinds and flags are known, lines are sorted and unique.  Exits 1 with a
message listing the problems otherwise.  Needs only the Python standard library.

    python3 scripts/check-vim-types.py [path/to/vim_types.txt]
"""

import os
import sys

KINDS = {"string", "bool", "int", "float", "dateTime", "binary", "moref", "any", "enum"}
FLAGS = {"array", "opt"}
ROOT = "DynamicData"


def parse(path):
    """Return ([(name, base, [(field, kind, flags)])], problems)."""
    problems = []
    types = []
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    if not text.endswith("\n"):
        problems.append("file does not end with a newline")
    if "\r" in text:
        problems.append("file contains carriage returns")
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        where = "%s:%d" % (path, lineno)
        cols = line.split("\t")
        if len(cols) != 3:
            problems.append("%s: expected 3 TAB-separated columns, got %d" % (where, len(cols)))
            continue
        name, base, fieldcol = cols
        if not name or not name.isidentifier():
            problems.append("%s: bad type name %r" % (where, name))
        fields = []
        for spec in fieldcol.split(";") if fieldcol else []:
            fname, sep, rest = spec.partition(":")
            if not sep or not fname or not rest:
                problems.append("%s: bad field %r in %s" % (where, spec, name))
                continue
            parts = rest.split(",")
            kind, flags = parts[0], parts[1:]
            if kind.startswith("obj:"):
                if not kind[4:]:
                    problems.append("%s: %s.%s has an empty obj: type" % (where, name, fname))
            elif kind not in KINDS:
                problems.append("%s: %s.%s has unknown kind %r" % (where, name, fname, kind))
            for fl in flags:
                if fl not in FLAGS:
                    problems.append("%s: %s.%s has unknown flag %r" % (where, name, fname, fl))
            if len(set(flags)) != len(flags):
                problems.append("%s: %s.%s repeats a flag" % (where, name, fname))
            fields.append((fname, kind, flags))
        types.append((name, base, fields))
    return types, problems


def check(types):
    problems = []
    names = [t[0] for t in types]
    if names != sorted(names):
        problems.append("lines are not sorted by type name")
    by_name = {}
    for name, base, fields in types:
        if name in by_name:
            problems.append("type %s is defined twice" % name)
        by_name[name] = (base, fields)

    if ROOT not in by_name:
        problems.append("root type %s is missing" % ROOT)
    elif by_name[ROOT] != ("-", []):
        problems.append("%s must have base '-' and no fields" % ROOT)
    if "Event" not in by_name:
        problems.append("type Event is missing")

    for name, (base, fields) in sorted(by_name.items()):
        if base == "-":
            if name != ROOT:
                problems.append("%s has no base; only %s may be a root" % (name, ROOT))
        elif base not in by_name:
            problems.append("%s: base type %s is not defined" % (name, base))
        for fname, kind, _ in fields:
            if kind.startswith("obj:") and kind[4:] not in by_name:
                problems.append("%s.%s: field type %s is not defined" % (name, fname, kind[4:]))

    # Base chains: must reach the root without a cycle; a field name may be
    # declared only once along a chain (the JSON object would repeat a key).
    for name in sorted(by_name):
        chain = []
        cur = name
        while cur in by_name and cur not in chain:
            chain.append(cur)
            cur = by_name[cur][0]
        if cur in chain:
            problems.append("%s: base chain has a cycle: %s" % (name, " -> ".join(chain + [cur])))
            continue
        if cur != "-":
            continue  # undefined base, reported above
        seen = {}
        for t in reversed(chain):
            for fname, _, _ in by_name[t][1]:
                if fname in seen:
                    problems.append("%s: field %s declared by both %s and %s"
                                    % (name, fname, seen[fname], t))
                seen[fname] = t
    return problems


def main():
    if len(sys.argv) > 2:
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) == 2 else os.path.join(
        here, "..", "router", "src", "vsphere", "vim_types.txt")
    try:
        types, problems = parse(path)
    except OSError as e:
        print("check-vim-types: cannot read %s: %s" % (path, e), file=sys.stderr)
        return 1
    problems += check(types)
    if problems:
        print("check-vim-types: %s: %d problem(s):" % (path, len(problems)), file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    nfields = sum(len(t[2]) for t in types)
    nrefs = sum(1 for t in types for f in t[2] if f[1].startswith("obj:"))
    print("check-vim-types: %s OK: %d types, %d fields, %d obj: references, all defined"
          % (os.path.normpath(path), len(types), nfields, nrefs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
