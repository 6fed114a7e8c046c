# Drops the YAML documents of the given kind and metadata names from a multi-document file:
#   awk -f drop-doc.awk -v kind=ConfigMap -v names="config-network config-domain" in.yaml > out.yaml
# Documents are split on lines that are exactly "---"; a document matches when it has a
# top-level "kind: <kind>" line and an indented "name: <one of names>" line directly under
# metadata. `dropped` counts the documents dropped; with -v report=1 it is printed on stderr.
function flush() {
  if (doc != "" && !(has_kind && has_name)) { printf "%s", sep doc; sep = "---\n" }
  if (doc != "" && has_kind && has_name) dropped++
  doc = ""; has_kind = 0; has_name = 0; in_meta = 0
}
BEGIN {
  sep = ""; dropped = 0
  n = split(names, list, /[ \t]+/)
  for (i = 1; i <= n; i++) if (list[i] != "") wanted[list[i]] = 1
}
/^---[ \t]*$/ { flush(); next }
{
  doc = doc $0 "\n"
  if ($0 == "kind: " kind) has_kind = 1
  if ($0 ~ /^metadata:[ \t]*$/) { in_meta = 1; next }
  if (in_meta && $0 ~ /^[^ \t#]/) in_meta = 0
  if (in_meta && $0 ~ /^  name: /) {
    v = $0
    sub(/^  name: */, "", v); sub(/[ \t]+$/, "", v); gsub(/"/, "", v)
    if (v in wanted) has_name = 1
  }
}
END { flush(); if (report) print dropped > "/dev/stderr" }
