#!/usr/bin/env python3
"""Check router/src/vsphere/vim_types.txt (written by scripts/gen-vim-types.py).

Parses the table back and checks that it is self-contained and well formed:
every base type and every obj:T field type is defined in the file, every base
chain ends at DynamicData without cycles, no field is declared twice along a
chain, kinds and flags are known, lines are sorted and unique.  The `zero` flag
(absent = Go zero value in VEBA's JSON) is never on an array, nor on an `any` or
`binary` field (govmomi's interface{} and []byte are null when absent), and,
checked against govmomi's own declarations (scripts/data/govmomi-v0.30.2-types.tsv,
from scripts/extract-govmomi-types.py; --govmomi another, --govmomi '' none), is
on exactly the fields govmomi v0.30.2 declares as a plain value or a non-pointer
struct, of every type govmomi has; every such type has the same fields in
the same order in both, each of a Go type its kind allows (obj:T as T or
BaseT, enum as an enum string type, int as an integer, ...).  Exits 1 with a message listing the problems otherwise.
Needs only the Python standard library.

    python3 scripts/check-vim-types.py [path/to/vim_types.txt] [--govmomi TSV]
"""

import os
import sys

KINDS = {"string", "bool", "int", "float", "dateTime", "binary", "moref", "any", "enum"}
FLAGS = {"array", "opt", "zero"}
# Kinds whose govmomi type is never a plain value: interface{} and []byte.
NEVER_ZERO = {"any", "binary"}
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
            if "zero" in flags and ("array" in flags or kind in NEVER_ZERO):
                problems.append("%s: %s.%s: zero on %s (govmomi writes null for it)"
                                % (where, name, fname, "an array" if "array" in flags else kind))
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


# The Go element types (pointers and slices stripped) each kind may have in govmomi.
GO_TYPES = {
    "string": {"string"}, "bool": {"bool"}, "dateTime": {"time.Time"},
    "int": {"int8", "int16", "int32", "int64", "byte"},  # byte: HostSubSpecification.data
    "float": {"float32", "float64"}, "binary": {"byte"}, "moref": {"ManagedObjectReference"},
    "any": {"AnyType"},
}


def go_type_fits(kind, elem):
    if kind.startswith("obj:"):
        return elem in (kind[4:], "Base" + kind[4:])
    if kind == "enum":
        return elem.startswith("enum:")
    return elem in GO_TYPES.get(kind, ())


def check_govmomi(types, tsv):
    """The zero flags and field lists against govmomi's declarations."""
    problems = []
    go_fields, go_types = {}, set()
    with open(tsv, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if cols[0] == "type":
                go_types.add(cols[1])
                go_fields.setdefault(cols[1], [])
            elif cols[0] == "field":
                go_fields[cols[1]].append((cols[3], cols[4], cols[5]))
    nchecked = 0
    for name, _, fields in types:
        if name not in go_types:
            continue
        ours = [f[0] for f in fields]
        theirs = [g[0] for g in go_fields[name]]
        if ours != theirs:
            problems.append("%s: fields %s, govmomi's %s" % (name, ours, theirs))
            continue
        for (fname, kind, flags), (_, go_kind, go_type) in zip(fields, go_fields[name]):
            nchecked += 1
            want = go_kind in ("value", "struct")
            if ("zero" in flags) != want:
                problems.append("%s.%s: %s zero, but govmomi v0.30.2 declares it %s (%s)"
                                % (name, fname, "has" if "zero" in flags else "lacks",
                                   go_type, go_kind))
            if ("array" in flags) != (go_kind == "slice") and kind != "binary":
                problems.append("%s.%s: array is %s, govmomi declares %s"
                                % (name, fname, "array" in flags, go_type))
            elem = go_type.replace("*", "").replace("[]", "")
            if not go_type_fits(kind, elem):
                problems.append("%s.%s: kind %s, govmomi declares %s" % (name, fname, kind, go_type))
    return problems, nchecked


def main():
    args = sys.argv[1:]
    here = os.path.dirname(os.path.abspath(__file__))
    tsv = os.path.join(here, "data", "govmomi-v0.30.2-types.tsv")
    if "--govmomi" in args:
        i = args.index("--govmomi")
        if i + 1 >= len(args):
            sys.exit(__doc__)
        tsv = args[i + 1]
        del args[i:i + 2]
    if len(args) > 1:
        sys.exit(__doc__)
    path = args[0] if args else os.path.join(
        here, "..", "router", "src", "vsphere", "vim_types.txt")
    try:
        types, problems = parse(path)
    except OSError as e:
        print("check-vim-types: cannot read %s: %s" % (path, e), file=sys.stderr)
        return 1
    problems += check(types)
    nchecked = 0
    if tsv:
        try:
            more, nchecked = check_govmomi(types, tsv)
        except OSError as e:
            print("check-vim-types: cannot read %s: %s" % (tsv, e), file=sys.stderr)
            return 1
        problems += more
    if problems:
        print("check-vim-types: %s: %d problem(s):" % (path, len(problems)), file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    nfields = sum(len(t[2]) for t in types)
    nrefs = sum(1 for t in types for f in t[2] if f[1].startswith("obj:"))
    print("check-vim-types: %s OK: %d types, %d fields, %d obj: references, all defined; "
          "%d fields' zero flags and Go types agree with govmomi v0.30.2"
          % (os.path.normpath(path), len(types), nfields, nrefs, nchecked))
    return 0


if __name__ == "__main__":
    sys.exit(main())
