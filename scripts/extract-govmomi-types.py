#!/usr/bin/env python3
"""Extract govmomi's Go field declarations for the vSphere types the router knows.

VEBA's router encodes an event's `data` with Go's encoding/json from govmomi's
vim25/types structs (VEBA's vmware-event-router/go.mod pins govmomi v0.30.2).
How a field looks in that JSON when vCenter did not send it depends only on
its Go type: a plain value (int32, bool, string, an enum string type,
time.Time, a non-pointer struct) is written as its Go zero value, a pointer,
slice or interface as null.  This script reads those Go declarations as DATA
(nothing of govmomi's code is copied into the project) and writes a small TSV
that scripts/gen-vim-types.py (the `,zero` marker of vim_types.txt) and the
test oracle tests/peers/govmomi_json.py read.

Input: govmomi's vim25/types/types.go (the struct declarations), plus its
siblings unreleased.go (a few more structs), enum.go (the enum string types),
if.go (the Base* interfaces, with the type each one falls back to when an
element has no xsi:type), helpers.go (one more registration) and base.go
(AnyType), found next to types.go.  Either from files on disk:

    python3 scripts/extract-govmomi-types.py /path/to/govmomi/vim25/types/types.go \\
        --origin "github.com/vmware/govmomi v0.30.2 (commit 9078b0b...)" --out FILE

or straight from a git directory at a tag (what the committed file used; the
search tool's `fetch github:vmware/govmomi` gives such a directory):

    python3 scripts/extract-govmomi-types.py vim25/types/types.go \\
        --git-dir /work/.mirror/vmware+govmomi/repo --rev v0.30.2 \\
        --out scripts/data/govmomi-v0.30.2-types.tsv

Which types: every type named in router/src/vsphere/vim_types.txt (--table)
that govmomi declares, closed over govmomi's own declarations: embedded bases,
the struct named by every field, every implementation of an interface a field
is declared as (the subclasses: the embedding chain passes through the base),
and the ArrayOfX wrapper of every primitive, of ManagedObjectReference and of
every included type (an xsd:anyType value announces such a wrapper with
xsi:type), to a fixpoint.  Types of the table govmomi lacks are listed on
stderr and in the header.

Output format (UTF-8, '\\n', TAB-separated; '#' lines are the header):

    type   GoName  Base  XsiNames
    field  GoName  GoField  XmlName  GoKind  GoType  XmlOptions
    iface  BaseX   X

type    one per included struct type, sorted by name.  Base is the embedded
        struct (govmomi's inheritance: always the first member) or '-'.
        XsiNames: the names the package registers the struct under (t["..."];
        the registration Go runs last wins), comma-separated, i.e. the
        xsi:type values that select it; '-' if none.
field   one per declared member of that struct, in declaration order, the
        embedded base excluded.  GoField is the Go name, which is also the JSON
        key (govmomi v0.30.2 has no json tags); XmlName is the element (or
        attribute) name from the xml tag ('' for chardata); XmlOptions the
        tag's options after the name (omitempty, typeattr, attr, chardata),
        comma-separated, '-' if none.
        GoKind:  ptr     *T                        absent -> null
                 slice   []T (also []byte)          absent -> null
                 iface   a Base* interface, AnyType absent -> null
                 struct  a non-pointer struct       absent -> the zero struct
                 value   a number, bool, string, enum string type, time.Time
                                                    absent -> the Go zero value
        GoType:  the declared Go type text (*int32, []BaseVirtualDevice,
                 VirtualMachinePowerState, time.Time, ...); an enum type is
                 written as `enum:Name` so the reader needs no enum list.
iface   one per interface a field of an included type is declared as: the
        struct an element without xsi:type decodes as (if.go's t["BaseX"]).
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys

PRIMITIVES = {
    "bool", "string", "byte", "int8", "int16", "int32", "int64", "int",
    "uint8", "uint16", "uint32", "uint64", "float32", "float64", "time.Time",
}
# xsd primitive -> govmomi's ArrayOf wrapper (an xsd:anyType value may be one of these).
PRIMITIVE_ARRAYS = [
    "ArrayOfAnyType", "ArrayOfBoolean", "ArrayOfByte", "ArrayOfDateTime", "ArrayOfDouble",
    "ArrayOfFloat", "ArrayOfInt", "ArrayOfLong", "ArrayOfShort", "ArrayOfString",
    "ArrayOfURI", "ArrayOfBase64Binary", "ArrayOfManagedObjectReference",
]

STRUCT_RE = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.M | re.S)
FIELD_RE = re.compile(r"^\t(\w+)\s+(\S+)\s+`([^`]*)`\s*$")
EMBED_RE = re.compile(r"^\t(\w+)\s*(?:`[^`]*`)?\s*$")
REG_RE = re.compile(r't\["([^"]+)"\] = reflect\.TypeOf\(\(\*(\w+)\)\(nil\)\)\.Elem\(\)')
ENUM_RE = re.compile(r"^type (\w+) string$", re.M)
IFACE_RE = re.compile(r"^type (Base\w+) interface \{", re.M)
XMLTAG_RE = re.compile(r'xml:"([^"]*)"')
# The files of package vim25/types whose init functions register names (t["..."] = ...),
# in file name order; types.go and unreleased.go also declare the structs.
REGISTERING_FILES = ["enum.go", "helpers.go", "if.go", "types.go", "unreleased.go"]


class Source:
    """Reads the four files from disk or from a git directory at a revision."""

    def __init__(self, types_path, git_dir=None, rev=None):
        self.git_dir, self.rev = git_dir, rev
        self.dir = os.path.dirname(types_path)
        self.types_path = types_path
        self.read_files = []  # (path, sha256)

    def read(self, name, required=True):
        path = self.types_path if name == "types.go" else os.path.join(self.dir, name)
        if self.git_dir:
            r = subprocess.run(["git", "--git-dir", self.git_dir, "show", "%s:%s" % (self.rev, path)],
                               capture_output=True)
            if r.returncode != 0:
                if required:
                    sys.exit("extract-govmomi-types: git show %s:%s failed: %s"
                             % (self.rev, path, r.stderr.decode().strip()))
                return None
            data = r.stdout
        else:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as e:
                if required:
                    sys.exit("extract-govmomi-types: %s" % e)
                return None
        self.read_files.append((path, hashlib.sha256(data).hexdigest()))
        return data.decode("utf-8")

    def origin(self):
        if not self.git_dir:
            return None
        r = subprocess.run(["git", "--git-dir", self.git_dir, "rev-parse", self.rev + "^{commit}"],
                           capture_output=True, text=True, check=True)
        return "github.com/vmware/govmomi %s (commit %s)" % (self.rev, r.stdout.strip())


def parse_structs(text):
    """{GoName: (base or None, [(go_field, go_type, xml_name, xml_opts)])}"""
    structs = {}
    for m in STRUCT_RE.finditer(text):
        name, body = m.group(1), m.group(2)
        base = None
        fields = []
        for n, line in enumerate(body.split("\n")):
            if not line.strip() or line.strip().startswith("//"):
                continue
            fm = FIELD_RE.match(line)
            if fm:
                gname, gtype, tag = fm.groups()
                xm = XMLTAG_RE.search(tag)
                if not xm:
                    sys.exit("extract-govmomi-types: %s.%s has no xml tag: %r" % (name, gname, line))
                parts = xm.group(1).split(",")
                fields.append((gname, gtype, parts[0], [p for p in parts[1:] if p]))
                continue
            em = EMBED_RE.match(line)
            if em:
                if fields or base is not None:
                    sys.exit("extract-govmomi-types: %s embeds %s after other members"
                             % (name, em.group(1)))
                base = em.group(1)
                continue
            sys.exit("extract-govmomi-types: cannot read a member of %s: %r" % (name, line))
        if name in structs:
            sys.exit("extract-govmomi-types: struct %s declared twice" % name)
        structs[name] = (base, fields)
    return structs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("types_go", help="path of vim25/types/types.go (inside --git-dir with --rev)")
    ap.add_argument("--git-dir", help="read the files from this git directory at --rev")
    ap.add_argument("--rev", default="v0.30.2")
    ap.add_argument("--origin", help="what the files are (written in the header); "
                    "filled in from --git-dir/--rev when reading from git")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--table", default=os.path.join(here, "..", "router", "src", "vsphere",
                                                    "vim_types.txt"))
    ap.add_argument("--out", help="write here instead of stdout")
    args = ap.parse_args()

    src = Source(args.types_go, args.git_dir, args.rev if args.git_dir else None)
    # Every file of the package that declares structs or registers names, in the order Go
    # runs their init functions (file name order): a later registration of a name wins.
    texts = {name: src.read(name) for name in REGISTERING_FILES}
    types_text, enum_text, if_text = texts["types.go"], texts["enum.go"], texts["if.go"]
    base_text = src.read("base.go")
    origin = args.origin or src.origin()
    if not origin:
        sys.exit("extract-govmomi-types: say what the files are with --origin")

    structs = parse_structs(types_text)
    for name, decl in parse_structs(texts["unreleased.go"]).items():
        if name in structs:
            sys.exit("extract-govmomi-types: struct %s declared twice" % name)
        structs[name] = decl
    enums = set(ENUM_RE.findall(enum_text))
    ifaces = set(IFACE_RE.findall(if_text))
    if "type AnyType interface{}" not in base_text:
        sys.exit("extract-govmomi-types: base.go does not declare AnyType as interface{}")
    # Registrations: types.go registers structs, if.go the Base* interfaces' fallbacks.
    final = {}
    for name in REGISTERING_FILES:
        for key, go in REG_RE.findall(texts[name]):
            final[key] = go
    registered = {}
    iface_default = {}
    for key, go in final.items():
        if key in ifaces:
            iface_default[key] = go
        elif go in structs:
            registered.setdefault(go, []).append(key)
    for i in ifaces:
        if i not in iface_default:
            sys.exit("extract-govmomi-types: interface %s has no registered fallback" % i)

    def elem(gtype):
        t = gtype
        while t.startswith("*") or t.startswith("[]"):
            t = t[1:] if t.startswith("*") else t[2:]
        return t

    def kind(gtype):
        if gtype.startswith("*"):
            return "ptr"
        if gtype.startswith("[]"):
            return "slice"
        if gtype in ifaces or gtype == "AnyType":
            return "iface"
        if gtype in PRIMITIVES or gtype in enums:
            return "value"
        if gtype in structs:
            return "struct"
        sys.exit("extract-govmomi-types: unknown Go type %r" % gtype)

    def written_type(gtype):
        e = elem(gtype)
        if e in enums:
            return gtype[: len(gtype) - len(e)] + "enum:" + e
        return gtype

    # Subclasses: children by embedded base.
    children = {}
    for name, (base, _) in structs.items():
        if base:
            children.setdefault(base, []).append(name)

    def descendants(name):
        out, work = [], [name]
        while work:
            n = work.pop()
            out.append(n)
            work.extend(children.get(n, ()))
        return out

    table_types = []
    with open(args.table, encoding="utf-8") as f:
        for line in f:
            table_types.append(line.split("\t", 1)[0])
    missing = sorted(t for t in table_types if t not in structs)

    included = set()
    used_ifaces = set()
    work = [t for t in table_types if t in structs] + [a for a in PRIMITIVE_ARRAYS if a in structs]
    while work:
        n = work.pop()
        if n in included:
            continue
        included.add(n)
        base, fields = structs[n]
        if base:
            if base not in structs:
                sys.exit("extract-govmomi-types: %s embeds unknown %s" % (n, base))
            work.append(base)
        arr = "ArrayOf" + n
        if arr in structs:
            work.append(arr)
        for _, gtype, _, _ in fields:
            e = elem(gtype)
            if e in structs:
                work.append(e)
            elif e in ifaces:
                used_ifaces.add(e)
                work.extend(descendants(iface_default[e]))

    lines = [
        "# govmomi Go field declarations, extracted by scripts/extract-govmomi-types.py",
        "# origin: %s" % origin,
    ]
    for path, digest in src.read_files:
        lines.append("# file: %s sha256 %s" % (path, digest))
    lines.append("# types: %d (the %d of router/src/vsphere/vim_types.txt govmomi declares, "
                 "closed over embedding, field types, interface implementations and ArrayOf wrappers)"
                 % (len(included), len(table_types) - len(missing)))
    lines.append("# in vim_types.txt but not in govmomi: %s" % (", ".join(missing) or "none"))
    lines.append("# type\tGoName\tBase\tXsiNames")
    lines.append("# field\tGoName\tGoField\tXmlName\tGoKind\tGoType\tXmlOptions")
    lines.append("# iface\tBaseX\tDefaultType")
    nfields = 0
    for n in sorted(included):
        base, fields = structs[n]
        lines.append("type\t%s\t%s\t%s" % (n, base or "-", ",".join(sorted(registered.get(n, []))) or "-"))
        for gname, gtype, xname, opts in fields:
            lines.append("field\t%s\t%s\t%s\t%s\t%s\t%s"
                         % (n, gname, xname, kind(gtype), written_type(gtype), ",".join(opts) or "-"))
            nfields += 1
    for i in sorted(used_ifaces):
        lines.append("iface\t%s\t%s" % (i, iface_default[i]))
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    print("extract-govmomi-types: %d types, %d fields, %d interfaces; %d table types not in govmomi%s"
          % (len(included), nfields, len(used_ifaces), len(missing),
             (": " + ", ".join(missing)) if missing else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
