#!/usr/bin/env python3
"""Generate router/src/vsphere/vim_types.txt from pyVmomi's vSphere type tables.

The router turns vCenter SOAP events into CloudEvents whose JSON data uses
govmomi's field layout.  To do that faithfully it needs, for every data-object
type that can occur inside an event, the list of fields it declares (so absent
ones can still be emitted as null/zero), which of them are arrays, and each
field's type (so numbers and booleans become JSON numbers and booleans).  Those
facts are read here as DATA from the type tables shipped in the PyPI package
`pyvmomi`; no pyVmomi code is copied into the project.

Generated with: pyvmomi 9.1.1.0 (vim25 API namespace "urn:vim25"), Python 3.11.

Regenerate (the generator needs pyvmomi; it is not a project dependency, so use
a throwaway virtualenv outside the repo):

    python3 -m venv /tmp/venv-gen && /tmp/venv-gen/bin/pip install pyvmomi
    /tmp/venv-gen/bin/python scripts/gen-vim-types.py --out router/src/vsphere/vim_types.txt
    python3 scripts/check-vim-types.py router/src/vsphere/vim_types.txt

Without --out the table is written to stdout.  --stats prints counts and the
largest types to stderr.

The `zero` flags come from --govmomi (default scripts/data/govmomi-v0.30.2-types.tsv,
extracted from govmomi's vim25/types/types.go by scripts/extract-govmomi-types.py).
To redo only them on an existing table, without pyvmomi:

    python3 scripts/gen-vim-types.py --annotate router/src/vsphere/vim_types.txt \
        --out router/src/vsphere/vim_types.txt

Which fields are included
-------------------------
Only fields that exist at API level vim.version.v8_0_0_1 (API_VERSION), the
level of govmomi v0.30.2, whose types VEBA's router (v0.7.5 to v0.8) encodes
(VirtualMachineConfigSpec.sevEnabled, from 7.0.1, is in; newer fields such as
Event.tgw and Event.auditId from 9.1 are left out of the table so the JSON keeps
that shape; when a vCenter sends them anyway, the router passes them through).

Which types are included
------------------------
* DynamicData, the root of all data objects (written with no fields: its
  pseudo-fields dynamicType/dynamicProperty are dropped, govmomi's JSON has
  none of them);
* Event and every data-object type derived from it (EventEx, ExtendedEvent,
  VmPoweredOffEvent, AlarmStatusChangedEvent, ...), and AlarmInfo (the router adds an
  alarm's definition to its events' data);
* every data-object type that is the declared type of a field of an included
  type, and every subclass of such a type (a field typed as a base class may
  hold a subclass on the wire, announced by xsi:type, e.g. VirtualDevice ->
  VirtualDisk), plus the base chain of every included type, repeated to a
  fixpoint.  A type reached only as a base (e.g. DynamicData, EventArgument)
  does not pull in its other subclasses: nothing declares a field of that type
  (fields declared as DynamicData would be written as `any`).
Only types and fields of the vim25 namespace are considered: pyVmomi also
carries the vSAN, SMS, PBM, EAM and VSLM APIs, whose types (and a few vSAN
fields grafted onto vim25 types) never occur in vCenter's vim25 event stream.

File format
-----------
Pure data, no comments, UTF-8, '\\n' line ends, one type per line, lines
sorted by type name (plain byte order), three TAB-separated columns:

    TypeName<TAB>BaseTypeName<TAB>field1:kind[,flag...];field2:kind[,flag...];...

TypeName      the WSDL name, as found in SOAP xsi:type attributes
              (VmPoweredOffEvent, VirtualDisk), not the Python dotted name.
BaseTypeName  the WSDL name of the parent data type, or '-' for DynamicData.
fields        only the fields DECLARED by this type (not inherited ones), in
              declaration order; the third column is empty when a type declares
              none.  The full field list of a type is the base chain's fields,
              root first, then its own: this is also the JSON field order
              (govmomi embeds the base struct first).
field         the WSDL element name exactly as in SOAP (camelCase: chainId,
              fullFormattedMessage, from, to).
kind          string    xsd:string and string-like vmodl types (TypeName,
                        MethodName, PropertyPath, anyURI) and link fields
                        (a key string referring to another object)
              bool      xsd:boolean
              int       xsd:byte/short/int/long
              float     xsd:float/double
              dateTime  xsd:dateTime
              binary    xsd:base64Binary
              moref     ManagedObjectReference (<vm type="VirtualMachine">vm-1</vm>)
              any       xsd:anyType: the element carries its own xsi:type, which
                        may be a primitive (xsd:int, xsd:string, ...), an ArrayOf*
                        or any data object, possibly one not in this table
              enum      an enumeration, serialized as a string
              obj:T     a data object of type T or of a subclass of T (xsi:type)
flags         array     the field is an array (repeated elements on the wire,
                        ArrayOf* in the WSDL)
              opt       the field is optional (minOccurs=0)
              zero      when vCenter leaves the field out, VEBA's JSON (Go's
                        encoding/json of govmomi v0.30.2's structs) has the
                        field's Go zero value; without it, null.  Set exactly
                        when govmomi declares the field as a plain value (int32,
                        int64, bool, float, string, an enum string type,
                        time.Time) or a non-pointer struct (ManagedObjectReference,
                        TaskInfo, ManagedEntityEventArgument, ...), whether the
                        field is optional or not; a pointer (*int32, *bool,
                        *time.Time, *T), slice ([]T, []byte) or interface
                        (BaseT, AnyType) has none.  Never with array.  The zero
                        value by kind: int 0, float 0, bool false, string and
                        enum "", dateTime "0001-01-01T00:00:00Z", moref
                        {"Type":"","Value":""}, obj:T the object of type T (the
                        declared type) with every field, inherited first, absent
                        by these same rules (its zero fields zero, the others
                        null).  Read from scripts/data/govmomi-v0.30.2-types.tsv
                        (scripts/extract-govmomi-types.py); a type govmomi
                        v0.30.2 lacks keeps the router's earlier rule: zero for
                        string and enum fields and for required int, float,
                        bool, dateTime and moref fields.

Wire-level corrections applied to pyVmomi's model
-------------------------------------------------
* A field declared with a fault type (vmodl.MethodFault or a subclass, e.g.
  EventEx.fault, MethodFault.faultCause) travels as a LocalizedMethodFault
  wrapper (the real fault is in its `fault` child, with xsi:type), so it is
  written as obj:LocalizedMethodFault; LocalizedMethodFault.fault itself stays
  obj:MethodFault.
* LocalizedMethodFault's base is DynamicData (as in the WSDL and govmomi), not
  MethodFault as pyVmomi models it.
* MethodFault's pyVmomi-only field `msg` is dropped (on the wire the text is
  LocalizedMethodFault.localizedMessage).
"""

import argparse
import collections
import os
import sys

V = None  # pyVmomi.VmomiSupport, imported by main() unless --annotate

VIM_NS = "urn:vim25"

HERE = os.path.dirname(os.path.abspath(__file__))
GOVMOMI_TSV = os.path.join(HERE, "data", "govmomi-v0.30.2-types.tsv")
GOVMOMI = None  # read_govmomi()'s answer


def read_govmomi(path):
    """{(GoType, xmlName): GoKind} from scripts/extract-govmomi-types.py's TSV, and the set
    of types it declares."""
    fields, types = {}, set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if cols[0] == "type":
                types.add(cols[1])
            elif cols[0] == "field":
                fields[(cols[1], cols[3])] = cols[4]
    return fields, types


def zero_by_govmomi(govmomi, type_name, field, kind, flags):
    """Whether VEBA's JSON has the Go zero value (not null) for this field when vCenter
    leaves it out: govmomi declares it as a plain value or a non-pointer struct."""
    fields, types = govmomi
    if "array" in flags:
        return False
    if type_name not in types:
        # A type govmomi v0.30.2 lacks (never in VEBA's JSON): the router's earlier rule.
        if kind in ("string", "enum"):
            return True
        return "opt" not in flags and kind in ("int", "float", "bool", "dateTime", "moref")
    go_kind = fields.get((type_name, field))
    if go_kind is None:
        sys.exit("gen-vim-types.py: govmomi's %s has no field %s" % (type_name, field))
    return go_kind in ("value", "struct")


def annotate(text, govmomi):
    """The table text with every field's zero flag set again from govmomi."""
    out = []
    for line in text.split("\n")[:-1]:
        name, base, fieldcol = line.split("\t")
        fields = []
        for spec in fieldcol.split(";") if fieldcol else []:
            fname, _, rest = spec.partition(":")
            parts = [p for p in rest.split(",") if p != "zero"]
            kind, flags = parts[0], parts[1:]
            if zero_by_govmomi(govmomi, name, fname, kind, flags):
                parts.append("zero")
            fields.append(fname + ":" + ",".join(parts))
        out.append("\t".join([name, base, ";".join(fields)]))
    return "\n".join(out) + "\n"


def ns_of(version):
    return V.GetWsdlNamespace(version)


def load_vim_data_types():
    """Return {wsdlName: class} for every vim25 data-object type."""
    by_wsdl = {}
    for vmodl_name in V.ListDataTypes():
        typ = V.GetVmodlType(vmodl_name)
        if not (isinstance(typ, type) and issubclass(typ, V.DataObject)):
            continue
        if typ is V.DataObject:
            continue
        if ns_of(typ._version) != VIM_NS:
            continue
        other = by_wsdl.get(typ._wsdlName)
        if other is not None and other is not typ:
            sys.exit("gen-vim-types.py: two vim25 types share the WSDL name %s: %s, %s"
                     % (typ._wsdlName, other.__name__, typ.__name__))
        by_wsdl[typ._wsdlName] = typ
    return by_wsdl


def parent_of(typ):
    """The parent data type's class, or None for DynamicData."""
    if typ is DYNAMIC_DATA:
        return None
    if typ is LOCALIZED_METHOD_FAULT:
        return DYNAMIC_DATA
    base = typ.__bases__[0]
    if base is V.DataObject:
        return None
    return base


# The API level of the govmomi (0.24, vSphere 7.0) whose JSON the seed documents show.
API_VERSION = "vim.version.v8_0_0_1"


def own_props(typ):
    """The properties declared by typ itself (vim25 ones), in declaration order."""
    if typ is DYNAMIC_DATA:
        return []
    props = []
    for info in typ._GetPropertyList(includeBaseClassProps=False):
        if ns_of(info.version) != VIM_NS:
            DROPPED_FOREIGN.append((typ._wsdlName, info.name))
            continue
        if typ is METHOD_FAULT and info.name == "msg":
            continue
        if not V.IsChildVersion(API_VERSION, info.version):
            # Newer than govmomi's API level: left out so the JSON keeps govmomi's shape;
            # when vCenter sends such a field the router still passes it through.
            continue
        props.append(info)
    return props


def classify(owner, info):
    """Return (kind, referenced data class or None, is_array) for a property
    declared by the data type owner."""
    t = info.type
    is_array = isinstance(t, type) and issubclass(t, V.Array)
    if is_array:
        t = t.Item
    if info.flags & V.F_LINK:
        return "string", None, is_array
    if t is object:
        return "any", None, is_array
    if t is bool:
        return "bool", None, is_array
    if isinstance(t, type) and issubclass(t, V.Enum):
        return "enum", None, is_array
    if t is V.binary:
        return "binary", None, is_array
    if t is V.datetime:
        return "dateTime", None, is_array
    if t in (type, V.ManagedMethod) or (isinstance(t, type) and issubclass(t, str)):
        # str, URI, PropertyPath, Link; vmodl.TypeName and vmodl.MethodName
        return "string", None, is_array
    if isinstance(t, type) and issubclass(t, int):
        return "int", None, is_array
    if isinstance(t, type) and issubclass(t, float):
        return "float", None, is_array
    if isinstance(t, type) and issubclass(t, V.ManagedObject):
        return "moref", None, is_array
    if isinstance(t, type) and issubclass(t, V.DataObject):
        if issubclass(t, METHOD_FAULT) and not (
                owner is LOCALIZED_METHOD_FAULT and info.name == "fault"):
            t = LOCALIZED_METHOD_FAULT
        if t is DYNAMIC_DATA or t is V.DataObject:
            return "any", None, is_array
        return "obj:" + t._wsdlName, t, is_array
    raise SystemExit("gen-vim-types.py: unknown property type %r (%s)" % (t, info.name))


def collect(by_wsdl):
    children = collections.defaultdict(list)
    for typ in by_wsdl.values():
        p = parent_of(typ)
        if p is not None:
            children[p].append(typ)

    # A type can be reached in two ways: as a value type (Event itself, a
    # field's declared type, or a subclass of one of those), whose subclasses
    # may then also occur on the wire; or only as the base of an included type,
    # which needs its own line (for its fields) but not its other subclasses.
    # (Expanding DynamicData's subclasses would pull in the whole API.)
    included = set()
    expanded = set()
    # Event, and AlarmInfo: the alarm's definition the router adds to alarm events' data
    # (router/src/sources/alarms.rs).
    work = [(DYNAMIC_DATA, False), (by_wsdl["Event"], True), (by_wsdl["AlarmInfo"], True)]
    while work:
        typ, expand = work.pop()
        if ns_of(typ._version) != VIM_NS:
            sys.exit("gen-vim-types.py: reached non-vim25 type %s" % typ.__name__)
        if expand and typ not in expanded:
            expanded.add(typ)
            work.extend((c, True) for c in children.get(typ, ()))
        if typ in included:
            continue
        included.add(typ)
        p = parent_of(typ)
        if p is not None:
            work.append((p, False))
        for info in own_props(typ):
            _, ref, _ = classify(typ, info)
            if ref is not None:
                work.append((ref, True))
    return included, expanded


def render(included):
    lines = []
    nfields = 0
    sizes = []
    for typ in sorted(included, key=lambda t: t._wsdlName):
        p = parent_of(typ)
        fields = []
        seen = set()
        for info in own_props(typ):
            if info.name in seen:
                sys.exit("gen-vim-types.py: %s declares %s twice" % (typ._wsdlName, info.name))
            seen.add(info.name)
            kind, _, is_array = classify(typ, info)
            flags = []
            if is_array:
                flags.append("array")
            if info.flags & V.F_OPTIONAL:
                flags.append("opt")
            if zero_by_govmomi(GOVMOMI, typ._wsdlName, info.name, kind, flags):
                flags.append("zero")
            fields.append(":".join([info.name, ",".join([kind] + flags)]))
        nfields += len(fields)
        line = "%s\t%s\t%s" % (typ._wsdlName, p._wsdlName if p is not None else "-",
                               ";".join(fields))
        sizes.append((len(line) + 1, typ._wsdlName, len(fields)))
        lines.append(line)
    return "\n".join(lines) + "\n", nfields, sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="write the table here instead of stdout")
    ap.add_argument("--stats", action="store_true", help="print counts to stderr")
    ap.add_argument("--govmomi", default=GOVMOMI_TSV,
                    help="govmomi's field declarations (scripts/extract-govmomi-types.py)")
    ap.add_argument("--annotate", metavar="TABLE",
                    help="only set the zero flags of this existing table again (no pyvmomi)")
    args = ap.parse_args()

    global GOVMOMI, V
    GOVMOMI = read_govmomi(args.govmomi)
    if args.annotate:
        with open(args.annotate, encoding="utf-8", newline="") as f:
            text = annotate(f.read(), GOVMOMI)
        if args.out:
            with open(args.out, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
        return
    try:
        from pyVmomi import VmomiSupport
    except ImportError:  # pragma: no cover
        sys.exit("gen-vim-types.py: pyvmomi is not installed (pip install pyvmomi in a venv)")
    V = VmomiSupport

    global DYNAMIC_DATA, METHOD_FAULT, LOCALIZED_METHOD_FAULT, DROPPED_FOREIGN
    DYNAMIC_DATA = V.GetVmodlType("vmodl.DynamicData")
    METHOD_FAULT = V.GetVmodlType("vmodl.MethodFault")
    LOCALIZED_METHOD_FAULT = V.GetVmodlType("vmodl.LocalizedMethodFault")
    DROPPED_FOREIGN = []

    by_wsdl = load_vim_data_types()
    included, expanded = collect(by_wsdl)
    DROPPED_FOREIGN = []
    text, nfields, sizes = render(included)

    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    else:
        sys.stdout.write(text)

    if args.stats:
        err = sys.stderr
        try:
            from importlib.metadata import version
            ver = version("pyvmomi")
        except Exception:
            ver = "?"
        err.write("pyvmomi %s: %d vim25 data types, %d included, %d fields, %d bytes\n"
                  % (ver, len(by_wsdl), len(included), nfields, len(text.encode())))
        events = [t for t in included if issubclass(t, by_wsdl["Event"])]
        faults = [t for t in included
                  if issubclass(t, METHOD_FAULT) and t is not LOCALIZED_METHOD_FAULT]
        err.write("  Event and subclasses: %d; MethodFault and subclasses: %d\n"
                  % (len(events), len(faults)))
        if DROPPED_FOREIGN:
            err.write("  non-vim25 fields dropped from included types: %s\n"
                      % ", ".join("%s.%s" % x for x in DROPPED_FOREIGN))
        err.write("  largest lines:\n")
        for size, name, n in sorted(sizes, reverse=True)[:10]:
            err.write("    %6d bytes %4d fields  %s\n" % (size, n, name))


if __name__ == "__main__":
    main()
