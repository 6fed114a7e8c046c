#!/usr/bin/env python3
"""Offline schema check of Kubernetes manifests.

Each argument is a kustomization folder (built with `kubectl kustomize`, then every object
checked) or a YAML file (every document checked). Kubernetes' own kinds are checked with
kubernetes-validate in strict mode (unknown fields fail); the custom resources we ship
(Knative Broker, Trigger and Service, Contour HTTPProxy) against tests/schemas/crd-subset.yaml.
A kind neither knows is an error, so nothing passes unchecked. For a kustomization folder,
every YAML file in it must be used by it (a resource, a base, or a generator's file).

Environment: KUBECTL (default: kubectl on PATH), K8S_VERSION (default: kubernetes-validate's).
Exit 0 when everything passes, 1 with one line per problem otherwise.
"""
import os
import pathlib
import subprocess
import sys

import jsonschema
import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "tests" / "schemas" / "crd-subset.yaml"


def load_subset():
    doc = yaml.safe_load(SCHEMAS.read_text())
    defs = doc["$defs"]
    return {kind: dict(schema, **{"$defs": defs}) for kind, schema in doc["kinds"].items()}


def kustomize(folder):
    kubectl = os.environ.get("KUBECTL", "kubectl")
    run = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True)
    if run.returncode != 0:
        raise ValueError(f"kubectl kustomize failed: {run.stderr.strip()}")
    return run.stdout


def used_files(folder):
    """Files a kustomization uses directly (resources, bases, generator files)."""
    k = yaml.safe_load((folder / "kustomization.yaml").read_text()) or {}
    used = {"kustomization.yaml"}
    for key in ("resources", "bases", "patchesStrategicMerge"):
        used.update(k.get(key) or [])
    for gen in (k.get("secretGenerator") or []) + (k.get("configMapGenerator") or []):
        used.update(f.split("=", 1)[-1] for f in gen.get("files") or [])
    return used


def check_object(obj, subset, version):
    if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
        return ["not a Kubernetes object (apiVersion and kind are required)"]
    key = f"{obj['apiVersion']} {obj['kind']}"
    if key in subset:
        validator = jsonschema.Draft202012Validator(subset[key])
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}"
            for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
        ]
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"unknown kind {key}: add its schema to {SCHEMAS.relative_to(ROOT)}"]
    except kubernetes_validate.ValidationError as e:
        path = "/".join(map(str, e.path)) or "."
        return [f"{path}: {e.message}"]
    return []


def main(args):
    if not args:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    subset = load_subset()
    version = os.environ.get("K8S_VERSION", kubernetes_validate.latest_version())
    problems, checked = [], 0
    for arg in args:
        path = pathlib.Path(arg)
        try:
            if path.is_dir():
                if not (path / "kustomization.yaml").is_file():
                    raise ValueError("a folder must hold a kustomization.yaml")
                unused = sorted(
                    p.name for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.name not in used_files(path)
                )
                problems += [f"{path / name}: not used by {path}/kustomization.yaml" for name in unused]
                text = kustomize(path)
            else:
                text = path.read_text()
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except (OSError, ValueError, yaml.YAMLError) as e:
            problems.append(f"{path}: {e}")
            continue
        for obj in docs:
            checked += 1
            name = f"{obj.get('kind', '?')}/{(obj.get('metadata') or {}).get('name', '?')}" if isinstance(obj, dict) else "?"
            problems += [f"{path}: {name}: {p}" for p in check_object(obj, subset, version)]
    for p in problems:
        print(p)
    print(f"checked {checked} objects, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
