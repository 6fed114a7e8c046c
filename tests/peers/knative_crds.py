"""Knative's CustomResourceDefinitions from the v1.20 release manifests, as the Kubernetes 1.20 API
server of the tests (tests/peers/kube-api.sh) accepts them; a kubectl-ready JSON List on stdout.

    knative_crds.py DIR    DIR holds eventing-crds.yaml, serving-crds.yaml and in-memory-channel.yaml
                           (../shared/reference/upstream/knative-v1.20.0)

Only the CustomResourceDefinition documents are kept (in-memory-channel.yaml also holds its
controller). One change, and only where needed: kube-apiserver 1.20 reads a schema's
`default: ""` as null and refuses the CRD ("default: Invalid value: "null": must be of type
string"); Serving's CRDs have such defaults on the name fields copied from Kubernetes' own types
(imagePullSecrets[].name, envFrom[].configMapRef.name, ...). Those defaults are dropped; where the
field is a key of an x-kubernetes-list-map (imagePullSecrets[].name), which must have a default or
be required, it is made required instead. Every other part of every schema is applied as shipped.
What was changed is listed on stderr, one line per CRD.
"""

import json
import sys
from pathlib import Path

import yaml

FILES = ("eventing-crds.yaml", "serving-crds.yaml", "in-memory-channel.yaml")


def adapt(schema, changes):
    """Drops `default: ""` in `schema` (recursively); list-map keys become required."""
    if isinstance(schema, list):
        for item in schema:
            adapt(item, changes)
        return
    if not isinstance(schema, dict):
        return
    keys = schema.get("x-kubernetes-list-map-keys") or []
    items = schema.get("items")
    if isinstance(items, dict):
        props = items.get("properties") or {}
        for key in keys:
            prop = props.get(key)
            if isinstance(prop, dict) and prop.get("default") == "":
                del prop["default"]
                required = items.setdefault("required", [])
                if key not in required:
                    required.append(key)
                changes["required"] += 1
    if schema.get("default") == "":
        del schema["default"]
        changes["dropped"] += 1
    for value in schema.values():
        adapt(value, changes)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: knative_crds.py DIR")
    folder = Path(sys.argv[1])
    items = []
    for name in FILES:
        path = folder / name
        if not path.is_file():
            sys.exit(f"knative_crds.py: {path} is missing")
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            changes = {"dropped": 0, "required": 0}
            for version in doc["spec"]["versions"]:
                adapt(version.get("schema"), changes)
            if changes["dropped"] or changes["required"]:
                print(
                    f"{doc['metadata']['name']}: {changes['dropped']} empty-string defaults dropped, "
                    f"{changes['required']} list-map keys made required",
                    file=sys.stderr,
                )
            items.append(doc)
    if not items:
        sys.exit(f"knative_crds.py: no CustomResourceDefinition in {folder}")
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout)


if __name__ == "__main__":
    main()
