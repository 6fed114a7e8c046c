#!/usr/bin/env python3
"""The JSON VEBA's router would put in a CloudEvent's `data` for a vCenter event: a reference
for the router's decoder, built only from govmomi v0.30.2's declarations (never from the
router's type table).

VEBA's router (vmware-event-router, go.mod: github.com/vmware/govmomi v0.30.2) reads events
with govmomi's SOAP client, which decodes each `<returnval xsi:type="...">` into govmomi's Go
struct with govmomi's fork of encoding/xml (vim25/xml), and hands the struct to the CloudEvents
SDK, which encodes it with Go's encoding/json (json.Marshal). This script does the same two
steps on the event's XML, reading the Go declarations from
scripts/data/govmomi-v0.30.2-types.tsv (scripts/extract-govmomi-types.py), and writes the bytes
json.Marshal would write.

    govmomi_json.py EVENT.xml...                  one JSON text per file, on stdout
    govmomi_json.py --out-dir DIR EVENT.xml...    DIR/<name>.json for each EVENT.xml
    govmomi_json.py --check DIR...                every DIR/<name>.json is what DIR/<name>.xml gives
    govmomi_json.py --self-test                   the number, time and string encodings against
                                                  values Go writes
    govmomi_json.py diff EXPECTED.json ACTUAL.json [--ignore-extra]
                                                  every difference, one line each (exit 1 if any)

An EVENT.xml holds one event element (any name, with xsi:type and the namespace declarations
it uses), or a SOAP envelope whose response has `returnval` events (then one JSON text per
event, on one line each).

What is reproduced, with the govmomi v0.30.2 source it comes from:

* Decoding (vim25/xml/read.go, Decoder.unmarshal, copyValue, typeForElement; extras.go):
  - children are matched to fields by local name, namespace ignored; elements the Go struct
    does not declare are skipped (a newer vCenter's fields vanish);
  - a field declared as an interface (BaseX, AnyType) takes the type named by xsi:type
    (xsd:int -> int32, xsd:long -> int64, xsd:short -> int16, xsd:byte -> int8, xsd:boolean,
    xsd:float -> float32, xsd:double, xsd:string, xsd:dateTime -> time.Time, xsd:base64Binary
    -> []byte, the unsigned ones; otherwise the registered data type, "vim25:" prefix
    dropped), or, without xsi:type, the interface's registered fallback (BaseX -> X; AnyType has
    none); a type govmomi does not know leaves the field nil (null), in an array a null item;
  - a field declared as a struct or a pointer to one ignores xsi:type (the declared type's
    fields only);
  - ManagedObjectReference: Type from the plain `type` attribute, Value from the text;
  - integers: empty text -> 0, else strconv.ParseInt(TrimSpace) at the field's width; floats
    likewise with ParseFloat (float32 rounds); booleans: empty -> false, else
    strconv.ParseBool (1 t T TRUE true True / 0 f F FALSE false False); strings: the text as
    is; time.Time: UnmarshalText = time.Parse(RFC3339); []byte: the element's text bytes,
    NOT base64-decoded (copyValue SetBytes), so the JSON is the base64 of that text;
  - a repeated element of a non-array field decodes again into the same value (scalars: the
    last wins; structs and pointers: merged).
  Text govmomi cannot parse (a bad number, boolean or time) fails the whole ReadNextEvents call
  in VEBA: this script stops with an error then.
* Encoding (Go's encoding/json, json.Marshal; govmomi v0.30.2's types have no json tags):
  - keys are the Go field names; embedded structs (govmomi's inheritance) are flattened, base
    fields first, in declaration order;
  - a field vCenter did not send has its Go zero value: 0, false, "", "0001-01-01T00:00:00Z",
    a non-pointer struct's zero value (all its fields by these rules); pointers, slices,
    interfaces and []byte are null;
  - time.Time: RFC 3339 with nanoseconds, trailing zeros dropped, "Z" for offset zero;
  - floats: strconv 'f' format with the shortest digits at the field's width (float32: 32 bits),
    'e' below 1e-6 or from 1e21 (e-07 written e-7); integral values have no ".0";
  - []byte: standard base64; strings: json.Marshal's escaping (", \\, \\n, \\r, \\t, other
    controls as \\u00XX, and HTML-safe \\u003c \\u003e \\u0026, \\u2028 \\u2029).
"""

import base64
import decimal
import json
import math
import os
import re
import struct
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
TYPES_TSV = os.path.join(HERE, "..", "..", "scripts", "data", "govmomi-v0.30.2-types.tsv")

XSI = "http://www.w3.org/2001/XMLSchema-instance"
# vim25/xml/extras.go stringToTypeMap: the xsi:type values (compared as written) of primitives.
XSD_TYPES = {
    "xsd:boolean": "bool", "xsd:byte": "int8", "xsd:short": "int16", "xsd:int": "int32",
    "xsd:long": "int64", "xsd:unsignedByte": "uint8", "xsd:unsignedShort": "uint16",
    "xsd:unsignedInt": "uint32", "xsd:unsignedLong": "uint64", "xsd:float": "float32",
    "xsd:double": "float64", "xsd:string": "string", "xsd:dateTime": "time.Time",
    "xsd:base64Binary": "[]byte",
}
INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64, "int": 64}
UINT_BITS = {"uint8": 8, "byte": 8, "uint16": 16, "uint32": 32, "uint64": 64, "uint": 64}
ZERO_TIME = "0001-01-01T00:00:00Z"


class OracleError(Exception):
    """govmomi (or VEBA) would fail on this input, or the extracted data lacks a type."""


class GoTypes:
    def __init__(self, path=TYPES_TSV):
        self.structs = {}  # name -> (base, [(go_field, xml_name, kind, go_type, opts)])
        self.xsi = {}  # xsi:type name -> struct name
        self.iface = {}  # BaseX -> X
        self.not_in_govmomi = set()
        self.origin = None
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if line.startswith("# origin: "):
                    self.origin = line[len("# origin: "):]
                if line.startswith("# in vim_types.txt but not in govmomi: "):
                    rest = line.split(": ", 1)[1]
                    if rest != "none":
                        self.not_in_govmomi = set(rest.split(", "))
                if line.startswith("#") or not line:
                    continue
                c = line.split("\t")
                if c[0] == "type":
                    self.structs[c[1]] = (None if c[2] == "-" else c[2], [])
                    for x in c[3].split(",") if c[3] != "-" else []:
                        self.xsi[x] = c[1]
                elif c[0] == "field":
                    opts = [] if c[6] == "-" else c[6].split(",")
                    self.structs[c[1]][1].append((c[2], c[3], c[4], c[5], opts))
                elif c[0] == "iface":
                    self.iface[c[1]] = c[2]
        self._chains = {}

    def fields(self, name):
        """All fields of a struct, embedded bases first: [(go_field, xml, kind, go_type, opts, depth)]."""
        if name not in self._chains:
            chain = []
            cur = name
            while cur is not None:
                if cur not in self.structs:
                    raise OracleError("struct %s is not in the extracted govmomi data" % cur)
                chain.append(cur)
                cur = self.structs[cur][0]
            out = []
            for depth, t in enumerate(reversed(chain)):
                for f in self.structs[t][1]:
                    out.append(f + (len(chain) - 1 - depth,))
            self._chains[name] = out
        return self._chains[name]

    def implements(self, struct_name, iface):
        """Whether *struct_name implements BaseX: X is on its embedding chain."""
        if iface == "AnyType":
            return True
        target = self.iface.get(iface)
        cur = struct_name
        while cur is not None:
            if cur == target:
                return True
            cur = self.structs.get(cur, (None,))[0]
        return False


# Go values: Python None (nil), bool, str, GoInt, GoFloat, GoTime, GoBytes, GoStruct, list.
class GoInt(int):
    pass


class GoFloat:
    def __init__(self, value, bits):
        self.value, self.bits = value, bits


class GoTime:
    def __init__(self, text):
        self.text = text  # already in MarshalJSON's form


class GoBytes:
    def __init__(self, data):
        self.data = data


class GoStruct:
    def __init__(self, name, values):
        self.name, self.values = name, values  # values: {go_field: Go value}


class Decoder:
    def __init__(self, types):
        self.t = types

    # ---- zero values -------------------------------------------------------------------
    def zero(self, go_type):
        if go_type.startswith("*") or go_type.startswith("[]"):
            return None
        if go_type in self.t.iface or go_type == "AnyType":
            return None
        if go_type.startswith("enum:") or go_type == "string":
            return ""
        if go_type == "bool":
            return False
        if go_type in INT_BITS or go_type in UINT_BITS:
            return GoInt(0)
        if go_type in ("float32", "float64"):
            return GoFloat(0.0, 32 if go_type == "float32" else 64)
        if go_type == "time.Time":
            return GoTime(ZERO_TIME)
        return self.zero_struct(go_type)

    def zero_struct(self, name):
        return GoStruct(name, {f[0]: self.zero(f[3]) for f in self.t.fields(name)})

    # ---- decoding ----------------------------------------------------------------------
    @staticmethod
    def text(el):
        parts = [el.text or ""]
        for child in el:
            parts.append(child.tail or "")
        return "".join(parts)

    @staticmethod
    def xsi_type(el):
        return el.get("{%s}type" % XSI)

    def decode_into(self, go_type, el, current):
        """The Go value of type go_type after decoding el into current (its value so far)."""
        if go_type.startswith("*"):
            inner = go_type[1:]
            base = current if current is not None else self.zero(inner)
            return self.decode_into(inner, el, base)
        if go_type == "[]byte":
            # copyValue: SetBytes(text); an empty element is a non-nil empty slice.
            return GoBytes(self.text(el).encode("utf-8"))
        if go_type.startswith("[]"):
            inner = go_type[2:]
            items = list(current) if current is not None else []
            items.append(self.decode_into(inner, el, self.zero(inner)))
            return items
        if go_type in self.t.iface or go_type == "AnyType":
            return self.decode_iface(go_type, el, current)
        if go_type.startswith("enum:") or go_type == "string":
            return self.text(el)
        if go_type == "bool":
            return parse_bool(self.text(el))
        if go_type in INT_BITS or go_type in UINT_BITS:
            return parse_int(self.text(el), go_type)
        if go_type in ("float32", "float64"):
            return parse_float(self.text(el), 32 if go_type == "float32" else 64)
        if go_type == "time.Time":
            return GoTime(parse_time(self.text(el)))
        if go_type == "ManagedObjectReference":
            return self.decode_moref(el, current)
        return self.decode_struct(go_type, el, current)

    def decode_moref(self, el, current):
        values = dict(current.values) if isinstance(current, GoStruct) else {"Type": "", "Value": ""}
        # read.go: an attribute named "type" sets Type unless it is xsi:type (the HACK there).
        for name, value in el.attrib.items():
            if name == "type" or (name.endswith("}type") and not name.startswith("{%s}" % XSI)):
                values["Type"] = value
        values["Value"] = self.text(el)
        return GoStruct("ManagedObjectReference", values)

    def decode_struct(self, name, el, current):
        if not isinstance(current, GoStruct) or current.name != name:
            current = self.zero_struct(name)
        values = dict(current.values)
        fields = self.t.fields(name)
        for child in el:
            local = child.tag.rsplit("}", 1)[-1]
            for go_field, xml_name, kind, go_type, opts, _ in fields:
                if xml_name == local and "attr" not in opts and "chardata" not in opts:
                    values[go_field] = self.decode_into(go_type, child, values[go_field])
                    break
        return GoStruct(name, values)

    def resolve(self, declared, el):
        """typeForElement: the Go type an interface field takes, or None (skipped)."""
        t = self.xsi_type(el)
        if t is None:
            t = declared  # the interface's own name: BaseX is registered, AnyType is not
        if t in XSD_TYPES:
            return XSD_TYPES[t]
        for name in (t, t[len("vim25:"):] if t.startswith("vim25:") else None):
            if name is None:
                continue
            if name in self.t.xsi:
                return self.t.xsi[name]
            if name in self.t.iface:
                return self.t.iface[name]
        if t == "AnyType" or t in self.t.not_in_govmomi:
            return None
        if t.startswith("vim25:") and t[len("vim25:"):] in self.t.not_in_govmomi:
            return None
        raise OracleError("xsi:type %r is not in the extracted govmomi data (is it in govmomi "
                          "v0.30.2? extend scripts/extract-govmomi-types.py's closure)" % t)

    def decode_iface(self, declared, el, current):
        if current is not None:
            # read.go: a non-nil interface holding a pointer (a BaseX's *X) decodes into it
            # again; one holding a plain value (AnyType's int32, string, struct) skips the
            # element.
            if declared != "AnyType" and isinstance(current, GoStruct):
                return self.decode_struct(current.name, el, current)
            return current
        typ = self.resolve(declared, el)
        if typ is None:
            return None
        if typ in self.t.structs:
            if declared != "AnyType" and not self.t.implements(typ, declared):
                raise OracleError("%s does not implement %s: govmomi's decoder panics" % (typ, declared))
            return self.decode_into(typ, el, None)
        if declared != "AnyType":
            raise OracleError("%s cannot hold %s: govmomi's decoder panics" % (declared, typ))
        return self.decode_into(typ, el, None)

    def event(self, el):
        """A ReadNextEvents returnval ([]BaseEvent, typeattr) decoded."""
        return self.decode_iface("BaseEvent", el, None)


# ---- text parsing as Go's strconv and time do ----------------------------------------------
GO_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
           "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}
GO_SPACE = " \t\n\v\f\r\x85\xa0"


def parse_bool(text):
    if text == "":
        return False
    v = GO_BOOL.get(text.strip(GO_SPACE))
    if v is None:
        raise OracleError("strconv.ParseBool: %r" % text)
    return v


def parse_int(text, go_type):
    if text == "":
        return GoInt(0)
    s = text.strip(GO_SPACE)
    if not re.fullmatch(r"[+-]?[0-9]+", s):
        raise OracleError("strconv.ParseInt: %r" % text)
    n = int(s)
    if go_type in INT_BITS:
        bits = INT_BITS[go_type]
        if not -(1 << (bits - 1)) <= n < (1 << (bits - 1)):
            raise OracleError("strconv.ParseInt: %r out of range for %s" % (text, go_type))
    else:
        bits = UINT_BITS[go_type]
        if n < 0:  # copyValue reinterprets a negative value as two's complement
            n &= (1 << bits) - 1
        if n >= (1 << bits):
            raise OracleError("strconv.ParseUint: %r out of range for %s" % (text, go_type))
    return GoInt(n)


def parse_float(text, bits):
    if text == "":
        return GoFloat(0.0, bits)
    s = text.strip(GO_SPACE)
    try:
        v = float(s.replace("_", "x"))  # Go accepts underscores only with a base prefix
    except ValueError:
        raise OracleError("strconv.ParseFloat: %r" % text)
    if bits == 32:
        try:
            v = struct.unpack("<f", struct.pack("<f", v))[0]
        except OverflowError:
            raise OracleError("strconv.ParseFloat: %r out of range for float32" % text)
    return GoFloat(v, bits)


TIME_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:\d{2})")


def parse_time(text):
    """time.Parse(time.RFC3339, text), then Time.MarshalJSON (RFC3339Nano)."""
    m = TIME_RE.fullmatch(text)
    if not m:
        raise OracleError("time.Parse RFC3339: %r" % text)
    y, mo, d, h, mi, s, frac, zone = m.groups()
    if not (1 <= int(mo) <= 12 and 1 <= int(d) <= 31 and int(h) < 24 and int(mi) < 60 and int(s) < 60):
        raise OracleError("time.Parse RFC3339: %r out of range" % text)
    frac = (frac or "")[:9].rstrip("0")
    if zone != "Z" and zone[1:] == "00:00":
        zone = "Z"
    return "%s-%s-%sT%s:%s:%s%s%s" % (y, mo, d, h, mi, s, "." + frac if frac else "", zone)


# ---- encoding as Go's encoding/json does ---------------------------------------------------
def go_string(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or ch in "<>&" or o in (0x2028, 0x2029):
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def shortest_digits(value, bits):
    """(sign, digits, exponent) of the shortest decimal that reads back as value at bits."""
    if bits == 64:
        d = decimal.Decimal(repr(value))
    else:
        for p in range(1, 10):
            s = "%.*e" % (p - 1, value)
            if struct.unpack("<f", struct.pack("<f", float(s)))[0] == value:
                break
        d = decimal.Decimal(s)
    return d.normalize()


def go_float(value, bits):
    if math.isnan(value) or math.isinf(value):
        raise OracleError("json: unsupported value: %r" % value)
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    d = shortest_digits(value, bits)
    a = abs(value)
    if bits == 32:
        f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]
        use_e = a < f32(1e-6) or a >= f32(1e21)
    else:
        use_e = a < 1e-6 or a >= 1e21
    if not use_e:
        return format(d, "f")
    sign, digits, exp = d.as_tuple()
    mant = "".join(map(str, digits))
    e = exp + len(mant) - 1
    text = ("-" if sign else "") + mant[0] + ("." + mant[1:] if len(mant) > 1 else "")
    # strconv writes at least two exponent digits (e-07, e+21); encoding/json then turns
    # e-0X into e-X.
    exp_text = "%s%02d" % ("-" if e < 0 else "+", abs(e))
    if exp_text.startswith("-0"):
        exp_text = "-" + exp_text[2:]
    return text + "e" + exp_text


def encode(types, v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, GoInt):
        return str(int(v))
    if isinstance(v, GoFloat):
        return go_float(v.value, v.bits)
    if isinstance(v, GoTime):
        return go_string(v.text)
    if isinstance(v, GoBytes):
        return go_string(base64.b64encode(v.data).decode("ascii"))
    if isinstance(v, str):
        return go_string(v)
    if isinstance(v, list):
        return "[" + ",".join(encode(types, x) for x in v) + "]"
    if isinstance(v, GoStruct):
        if v.name == "ManagedObjectReference":
            return '{"Type":%s,"Value":%s}' % (go_string(v.values["Type"]), go_string(v.values["Value"]))
        fields = types.fields(v.name)
        # encoding/json's dominant field: the shallowest of a name; two at one depth: neither.
        best = {}
        for go_field, _, _, _, _, depth in fields:
            best.setdefault(go_field, []).append(depth)
        parts = []
        for go_field, _, _, _, _, depth in fields:
            depths = best[go_field]
            if depth != min(depths) or depths.count(depth) > 1:
                continue
            parts.append(go_string(go_field) + ":" + encode(types, v.values[go_field]))
        return "{" + ",".join(parts) + "}"
    raise TypeError(v)


# ---- input --------------------------------------------------------------------------------
def events_in(path):
    root = ET.parse(path).getroot()
    if root.tag.rsplit("}", 1)[-1] == "Envelope":
        found = [el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "returnval"]
        return found
    return [root]


def govmomi_json(types, el):
    return encode(types, Decoder(types).event(el))


# ---- diff ---------------------------------------------------------------------------------
class Num:
    def __init__(self, text):
        self.text = text
        self.value = decimal.Decimal(text)


def load_ordered(path):
    with open(path, encoding="utf-8") as f:
        return json.loads(f.read(), object_pairs_hook=lambda pairs: ("obj", pairs),
                          parse_int=Num, parse_float=Num)


def show(v):
    if isinstance(v, Num):
        return v.text
    if isinstance(v, tuple):
        return "{...%d keys}" % len(v[1])
    if isinstance(v, list):
        return "[...%d items]" % len(v)
    return json.dumps(v)


def diff(a, b, path, out, ignore_extra):
    if isinstance(a, tuple) and isinstance(b, tuple):
        ka, kb = [k for k, _ in a[1]], [k for k, _ in b[1]]
        da, db = dict(a[1]), dict(b[1])
        for k in ka:
            if k not in db:
                out.append("%s: missing (expected %s)" % (path + "." + k, show(da[k])))
            else:
                diff(da[k], db[k], path + "." + k, out, ignore_extra)
        if not ignore_extra:
            for k in kb:
                if k not in da:
                    out.append("%s: extra key (got %s)" % (path + "." + k, show(db[k])))
        common_a = [k for k in ka if k in db]
        common_b = [k for k in kb if k in da]
        if common_a != common_b:
            out.append("%s: key order differs: expected %s, got %s" % (path or ".", common_a, common_b))
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append("%s: %d items expected, got %d" % (path, len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, "%s[%d]" % (path, i), out, ignore_extra)
        return
    if isinstance(a, Num) and isinstance(b, Num):
        if a.value != b.value:
            out.append("%s: expected %s, got %s" % (path, a.text, b.text))
        elif a.text != b.text:
            out.append("%s: number written %s, expected %s" % (path, b.text, a.text))
        return
    if type(a) is type(b) and not isinstance(a, (tuple, list, Num)) and a == b:
        return
    out.append("%s: expected %s, got %s" % (path, show(a), show(b)))


def self_test():
    """Encodings checked against what Go 1.19's strconv, time and encoding/json write."""
    f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]
    floats = [(2.0, 64, "2"), (0.1, 64, "0.1"), (1e21, 64, "1e+21"), (1e-7, 64, "1e-7"),
              (1e20, 64, "100000000000000000000"), (1.5e-7, 64, "1.5e-7"), (-0.0, 64, "-0"),
              (1e-6, 64, "0.000001"), (f32(0.1), 32, "0.1"), (f32(1 / 3), 32, "0.33333334"),
              (f32(16777217.0), 32, "16777216"), (f32(3.4e38), 32, "3.4e+38")]
    times = [("2026-01-15T10:20:30.120Z", "2026-01-15T10:20:30.12Z"),
             ("2026-01-15T10:20:30.000Z", "2026-01-15T10:20:30Z"),
             ("2026-01-15T10:20:30+00:00", "2026-01-15T10:20:30Z"),
             ("2026-01-15T10:20:30.5+02:00", "2026-01-15T10:20:30.5+02:00"),
             ("2026-01-15T10:20:30.1234567891Z", "2026-01-15T10:20:30.123456789Z")]
    bad = [(v, want, go_float(v, b)) for v, b, want in floats if go_float(v, b) != want]
    bad += [(t, want, parse_time(t)) for t, want in times if parse_time(t) != want]
    s = go_string('a<b>&"\\\n\t\x01\u2028\u00e9')
    if s != '"a\\u003cb\\u003e\\u0026\\"\\\\\\n\\t\\u0001\\u2028\u00e9"':
        bad.append(("string", None, s))
    if parse_int(" 42\n", "int32") != 42 or parse_int("", "int64") != 0 or parse_bool("True") is not True:
        bad.append(("int/bool", None, None))
    for b in bad:
        print("govmomi_json self-test: %r: want %r, got %r" % b, file=sys.stderr)
    print("govmomi_json self-test: %d cases, %d failed" % (len(floats) + len(times) + 2, len(bad)))
    return 1 if bad else 0


def check_dirs(types, dirs):
    """Whether every <name>.json of the directories is what its <name>.xml gives now."""
    import glob

    bad = n = 0
    for d in dirs:
        for xml in sorted(glob.glob(os.path.join(d, "*.xml"))):
            n += 1
            ref = xml[:-4] + ".json"
            try:
                want = "\n".join(govmomi_json(types, el) for el in events_in(xml)) + "\n"
            except OracleError as e:
                print("govmomi_json: %s: %s" % (xml, e), file=sys.stderr)
                bad += 1
                continue
            try:
                with open(ref, encoding="utf-8") as f:
                    have = f.read()
            except OSError:
                have = None
            if have != want:
                print("govmomi_json: %s is not what %s gives (regenerate: govmomi_json.py --out-dir %s %s)"
                      % (ref, os.path.basename(xml), d, os.path.join(d, "*.xml")), file=sys.stderr)
                bad += 1
    print("govmomi_json: %d events checked, %d stale" % (n, bad))
    return 1 if bad or not n else 0


def main(argv):
    if argv == ["--self-test"]:
        return self_test()
    if argv[:1] == ["diff"]:
        args = argv[1:]
        ignore_extra = "--ignore-extra" in args
        args = [a for a in args if a != "--ignore-extra"]
        if len(args) != 2:
            sys.exit(__doc__)
        out = []
        diff(load_ordered(args[0]), load_ordered(args[1]), "", out, ignore_extra)
        for line in out:
            print(line)
        return 1 if out else 0
    out_dir = None
    check = False
    types_path = TYPES_TSV
    files = []
    it = iter(argv)
    for a in it:
        if a == "--check":
            check = True
        elif a == "--out-dir":
            out_dir = next(it)
        elif a == "--types":
            types_path = next(it)
        elif a.startswith("-"):
            sys.exit(__doc__)
        else:
            files.append(a)
    if not files:
        sys.exit(__doc__)
    types = GoTypes(types_path)
    if check:
        return check_dirs(types, files)
    status = 0
    for path in files:
        try:
            texts = [govmomi_json(types, el) for el in events_in(path)]
        except OracleError as e:
            print("govmomi_json: %s: %s" % (path, e), file=sys.stderr)
            status = 1
            continue
        if out_dir:
            name = os.path.splitext(os.path.basename(path))[0] + ".json"
            with open(os.path.join(out_dir, name), "w", encoding="utf-8", newline="\n") as f:
                f.write("\n".join(texts) + "\n")
        else:
            for t in texts:
                sys.stdout.write(t + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
