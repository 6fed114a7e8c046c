#!/usr/bin/env python3
"""k3s's stand-in in the first-boot VM test (tests/e2e/first_boot_vm.rs): there is no k3s to
run here, so this plays the two parts of it that firstboot and the router meet.

* It "applies" the router's manifest: k3s's auto-deploy folder holds event-router.yaml, which
  firstboot rendered; when its config digest (the pod template's
  event-router.vmware.com/config-sha256 annotation) changes, the router's systemd unit
  (router/systemd/event-router.service, with /etc/event-router/config.yaml) is restarted, as k3s
  would roll the Deployment.
* It serves the part of the Kubernetes API firstboot polls (apps/v1 Deployment
  vmware-system/event-router and its pods, as k3s reports them), on 127.0.0.1:6443 with a bearer
  token, and writes k3s's kubeconfig (/etc/rancher/k3s/k3s.yaml) pointing at it. The Deployment is
  ready when the router's /readyz answers 200.

Runs as k3s.service (tests/vm/k3s.service), which firstboot starts.
"""

import http.server
import json
import os
import re
import secrets
import subprocess
import threading
import time
import urllib.request

MANIFEST = "/var/lib/rancher/k3s/server/manifests/event-router.yaml"
KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"
TOKEN_FILE = "/var/lib/rancher/k3s/server/token"
ANNOTATION = "event-router.vmware.com/config-sha256"
READYZ = "http://127.0.0.1:8082/readyz"
PORT = 6443

applied = {"hash": None, "generation": 0}
lock = threading.Lock()


def token():
    os.makedirs(os.path.dirname(TOKEN_FILE), exist_ok=True)
    if not os.path.exists(TOKEN_FILE):
        with open(os.open(TOKEN_FILE, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(secrets.token_hex(16))
    with open(TOKEN_FILE) as f:
        return f.read().strip()


def write_kubeconfig(tok):
    os.makedirs(os.path.dirname(KUBECONFIG), exist_ok=True)
    text = (
        "apiVersion: v1\nkind: Config\ncurrent-context: default\n"
        "clusters:\n- name: default\n  cluster:\n    server: http://127.0.0.1:%d\n"
        "contexts:\n- name: default\n  context:\n    cluster: default\n    user: default\n"
        "users:\n- name: default\n  user:\n    token: %s\n" % (PORT, tok)
    )
    tmp = KUBECONFIG + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)
    os.replace(tmp, KUBECONFIG)


def manifest_hash():
    try:
        with open(MANIFEST) as f:
            m = re.search(r"^\s*" + re.escape(ANNOTATION) + r":\s*(\S+)", f.read(), re.M)
    except FileNotFoundError:
        return None
    return m.group(1) if m else None


def apply_loop():
    while True:
        h = manifest_hash()
        with lock:
            changed = h is not None and h != applied["hash"]
        if changed:
            subprocess.run(["systemctl", "restart", "event-router.service"], check=False)
            with lock:
                applied["hash"] = h
                applied["generation"] += 1
        time.sleep(1)


def router_ready():
    try:
        with urllib.request.urlopen(READYZ, timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


def router_state():
    out = subprocess.run(
        ["systemctl", "is-active", "event-router.service"], capture_output=True, text=True
    ).stdout.strip()
    return out


class Api(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        if self.headers.get("Authorization") != "Bearer " + self.server.token:
            return self.answer(401, {"kind": "Status", "code": 401})
        with lock:
            h, gen = applied["hash"], applied["generation"]
        if self.path == "/apis/apps/v1/namespaces/vmware-system/deployments/event-router":
            if h is None:
                return self.answer(404, {"kind": "Status", "code": 404})
            ready = 1 if router_ready() else 0
            return self.answer(200, {
                "metadata": {"name": "event-router", "namespace": "vmware-system", "generation": gen},
                "spec": {"replicas": 1, "template": {"metadata": {"annotations": {ANNOTATION: h}}}},
                "status": {"observedGeneration": gen, "replicas": 1, "updatedReplicas": 1, "readyReplicas": ready},
            })
        if self.path.startswith("/api/v1/namespaces/vmware-system/pods?labelSelector="):
            state = router_state()
            ready = router_ready()
            st = {"running": {}} if state == "active" else {"waiting": {"reason": "Unit" + state.capitalize(), "message": "event-router.service is " + state}}
            return self.answer(200, {"items": [{"metadata": {"name": "event-router-vm"},
                                                "status": {"containerStatuses": [{"ready": ready, "state": st}]}}]})
        return self.answer(404, {"kind": "Status", "code": 404})


def main():
    tok = token()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Api)
    server.token = tok
    write_kubeconfig(tok)
    threading.Thread(target=apply_loop, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
