#!/usr/bin/env bash
# Reads an appliance properties file (scripts/appliance.properties.example's format) for the
# deploy scripts. Sourced, not run.
#   read_properties FILE   fills the arrays PROP_KEYS and PROP_VALUES (non-empty values only,
#                          in file order) or exits with an error naming the bad line
#   is_secret KEY          true for keys whose value must never be printed (every password
#                          property of the schema, the private key, the per-vCenter credentials)

read_properties() {
  local file=$1 line n=0 key value
  [[ -f $file && -r $file ]] || { echo "error: cannot read the properties file $file" >&2; exit 2; }
  PROP_KEYS=()
  PROP_VALUES=()
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [[ -z ${line//[[:space:]]/} || $line =~ ^[[:space:]]*# ]] && continue
    if [[ ! $line =~ ^(guestinfo\.[a-z0-9_]+)=(.*)$ ]]; then
      echo "error: $file line $n: expected guestinfo.<key>=<value>, got: ${line%%=*}=..." >&2
      exit 2
    fi
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    [[ -z $value ]] && continue
    PROP_KEYS+=("$key")
    PROP_VALUES+=("$value")
  done <"$file"
}

is_secret() {
  [[ $1 =~ (password|secret|private_key|credentials) ]]
}
