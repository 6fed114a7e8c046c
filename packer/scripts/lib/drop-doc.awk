# Drops the YAML document of the given kind and metadata name from a multi-document file:
#   awk -f drop-doc.awk -v kind=ConfigMap -v name=config-network in.yaml > out.yaml
# Documents are split on lines that are exactly "---"; a document matches when it has a
# top-level "kind: <kind>" line and an indented "name: <name>" line directly under metadata.
function flush() {
  if (doc != "" && !(has_kind && has_name)) printf "%s", sep doc
  if (doc != "" && !(has_kind && has_name)) sep = "---\n"
  doc = ""; has_kind = 0; has_name = 0; in_meta = 0
}
BEGIN { sep = "" }
/^---[ \t]*$/ { flush(); next }
{
  doc = doc $0 "\n"
  if ($0 == "kind: " kind) has_kind = 1
  if ($0 ~ /^metadata:[ \t]*$/) { in_meta = 1; next }
  if (in_meta && $0 ~ /^[^ \t#]/) in_meta = 0
  if (in_meta && $0 ~ "^  name: \"?" name "\"?[ \t]*$") has_name = 1
}
END { flush() }
