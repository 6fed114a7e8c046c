# Sets the CPU and memory requests of one container of one workload in a multi-document YAML file,
# replacing the values it has (a value that is not there is not added):
#   awk -f set-requests.awk -v kind=DaemonSet -v namespace=contour-external -v name=envoy \
#       -v container=envoy -v cpu=50m -v memory=- -v report=1 in.yaml > out.yaml
# A value of "-" leaves that request as it is. Documents are split on lines that are exactly "---";
# the workload is the document with a top-level "kind: <kind>" line and "name:"/"namespace:" lines
# directly under metadata; the container is the item of its `containers:` list (not
# `initContainers:`) whose `name:` is <container>, as its first key or a later one; the values are
# the `cpu:`/`memory:` lines under that item's `resources:` and `requests:`. Every other byte is
# copied as it is. `changed` counts the values replaced; with -v report=1 it is printed on stderr,
# so the caller can refuse a patch that no longer applies.
function indent(s) { match(s, /^ */); return RLENGTH }
function unquote(s) { gsub(/^["']|["'][ \t]*$/, "", s); sub(/[ \t]+$/, "", s); return s }
function blank(s) { return s ~ /^[ \t]*(#.*)?$/ }
function pad(k,    out) { out = ""; while (k-- > 0) out = out " "; return out }
function patch(    i, ci, ii, ki, items, first, last, s, e, it, nm, r, rq, ri, ind, v) {
  ci = -1; ii = -1; items = 0
  for (i = 1; i <= n; i++) {
    if (blank(L[i])) continue
    ind = indent(L[i])
    if (ci < 0) { if (L[i] ~ /^ *containers:[ \t]*$/) ci = ind; continue }
    if (ii < 0) { if (L[i] ~ /^ *- /) ii = ind; else break }
    if (ind < ii || (ind == ii && L[i] !~ /^ *- /)) break
    if (ind == ii) { items++; first[items] = i }
    last[items] = i
  }
  ki = ii + 2
  for (it = 1; it <= items; it++) {
    s = first[it]; e = last[it]; nm = ""
    for (i = s; i <= e; i++) {
      if (i == s && L[i] ~ /^ *- name:/) { v = L[i]; sub(/^ *- name:[ \t]*/, "", v); nm = unquote(v) }
      else if (indent(L[i]) == ki && L[i] ~ /^ *name:/) { v = L[i]; sub(/^ *name:[ \t]*/, "", v); nm = unquote(v) }
    }
    if (nm != container) continue
    r = 0; rq = 0
    for (i = s + 1; i <= e; i++) {
      if (blank(L[i])) continue
      ind = indent(L[i])
      if (!r) { if (ind == ki && L[i] ~ /^ *resources:[ \t]*$/) r = 1; continue }
      if (ind <= ki) break
      if (!rq) { if (L[i] ~ /^ *requests:[ \t]*$/) { rq = 1; ri = ind }; continue }
      if (ind <= ri) break
      if (cpu != "-" && L[i] ~ /^ *cpu:/) { L[i] = pad(ind) "cpu: " cpu; changed++ }
      if (memory != "-" && L[i] ~ /^ *memory:/) { L[i] = pad(ind) "memory: " memory; changed++ }
    }
  }
}
function flush(    i) {
  if (is_kind && meta_name == name && meta_ns == namespace) patch()
  for (i = 1; i <= n; i++) print L[i]
  n = 0; is_kind = 0; in_meta = 0; meta_name = ""; meta_ns = ""
}
BEGIN { changed = 0; n = 0 }
/^---[ \t]*$/ { flush(); print; next }
{
  L[++n] = $0
  if ($0 == "kind: " kind) is_kind = 1
  if ($0 ~ /^metadata:[ \t]*$/) { in_meta = 1; next }
  if (in_meta && $0 ~ /^[^ \t#]/) in_meta = 0
  if (in_meta && $0 ~ /^  name:/) { v = $0; sub(/^  name:[ \t]*/, "", v); meta_name = unquote(v) }
  if (in_meta && $0 ~ /^  namespace:/) { v = $0; sub(/^  namespace:[ \t]*/, "", v); meta_ns = unquote(v) }
}
END { flush(); if (report) print changed > "/dev/stderr" }
