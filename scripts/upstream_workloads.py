"""Stand-ins for the upstream manifests no offline check can read, built from
packer/tests/upstream-workloads.json: Contour's two halves (net-contour's config/contour files)
with the same workloads, containers, images and requests, laid out as those files lay them out
(`- image:` first in each container item, `containers:` before `initContainers:`), so the build's
patches (packer/scripts/lib/patch-manifests.sh) and the image lister apply to them as they would
to the real files. Imported by check-budget.py and provision-dry-run.py."""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "packer", "tests", "upstream-workloads.json")


def load():
    with open(DATA, encoding="utf-8") as f:
        return json.load(f)


def contour_standin(name, data=None):
    """The YAML text standing in for bom.json's entry `name` (contour-external or contour-internal)."""
    data = data or load()
    if name not in data["contour"]["sha256"]:
        raise KeyError(f"upstream-workloads.json has no Contour half named {name}")
    docs = []
    for w in data["contour"]["workloads"]:
        api = "batch/v1" if w["kind"] == "Job" else "apps/v1"
        lines = [f"apiVersion: {api}", f"kind: {w['kind']}", "metadata:", f"  name: {w['name']}",
                 f"  namespace: {name}", "spec:"]
        if "replicas" in w:
            lines.append(f"  replicas: {w['replicas']}")
        lines += ["  template:", "    spec:"]
        for key in ("containers", "initContainers"):
            for i, c in enumerate(w.get(key, [])):
                if i == 0:
                    lines.append(f"      {key}:")
                lines += [f"      - image: {c['image']}", f"        name: {c['name']}"]
                if "cpu" in c or "memory" in c:
                    lines += ["        resources:", "          requests:"]
                    lines += [f"            {k}: {c[k]}" for k in ("cpu", "memory") if k in c]
        docs.append("\n".join(lines) + "\n")
    return f"# Stand-in for {name} (scripts/upstream_workloads.py from packer/tests/upstream-workloads.json)\n" + \
        "---\n".join(docs)
