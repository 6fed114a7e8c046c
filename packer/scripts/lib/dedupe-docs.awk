# Prints the YAML documents of the last file that no earlier file has byte for byte, as
# net-contour's release does when it joins config/contour/external.yaml and internal.yaml into
# contour.yaml (knative-extensions/net-contour, hack/release.sh: `ko resolve ... | dekupe`; the two
# files share Contour's five CRDs and the knative-contour ClusterRole):
#   awk -f dedupe-docs.awk -v report=1 external.yaml internal.yaml > internal.new.yaml
# Documents are split on lines that are exactly "---". `dropped` counts the documents left out;
# with -v report=1 it is printed on stderr.
function flush() {
  if (FILENAME_ != last) {
    if (doc ~ /[^ \t\n]/) seen[doc] = 1
  } else if (doc ~ /[^ \t\n]/ && (doc in seen)) {
    dropped++
  } else {
    printf "%s%s", sep, doc; sep = "---\n"
  }
  doc = ""
}
BEGIN { last = ARGV[ARGC - 1]; sep = ""; dropped = 0; doc = ""; FILENAME_ = "" }
FNR == 1 && FILENAME_ != "" { flush() }
{ FILENAME_ = FILENAME }
/^---[ \t]*$/ { flush(); next }
{ doc = doc $0 "\n" }
END { flush(); if (report) print dropped > "/dev/stderr" }
