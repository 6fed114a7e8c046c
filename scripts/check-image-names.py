#!/usr/bin/env python3
"""Checks image archives the way k3s imports them from its agent images folder, offline: which
names containerd gives each image, whether k3s can re-tag every one of them, and which references
the kubelet can then pull by.

containerd names an image of an OCI archive by its index.json entry's io.containerd.image.name
annotation (containerd/containerd, core/images/archive/exporter.go writes it for every name
`ctr images export` is given), and one of a docker-archive by each of manifest.json's RepoTags,
normalized (core/images/archive/importer.go). k3s then re-tags each imported image, adding
name@<digest> (k3s-io/k3s, pkg/agent/containerd/containerd.go, retagImages), and parses every
name as a tagged reference first (parseNamedTagged): a digest-only name fails the file's import,
which is then left out of .cache.json and imported again at every boot
(pkg/agent/containerd/watcher.go, processImageEvent).

  check-image-names.py ARCHIVE.tar [--want REF]... [--want-file FILE]

Prints each name and the references k3s leaves. Exit 1 when a name is digest-only or not a
valid reference, an image has no name, or a wanted reference (a manifest's `image:`) is not among
them; 2 on a file that is no image archive.
"""
import argparse
import json
import re
import sys
import tarfile

PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
TAG = r"[\w][\w.-]{0,127}"
DIGEST = r"sha256:[0-9a-f]{64}"


class Bad(Exception):
    pass


def parse(ref):
    """(normalized name, tag or None, digest or None) of a reference, as
    distribution/reference.ParseNormalizedNamed reads it."""
    name, digest = ref, None
    if "@" in ref:
        name, digest = ref.split("@", 1)
        if not re.fullmatch(DIGEST, digest):
            raise Bad(f"{ref}: {digest} is not a sha256 digest")
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        if not re.fullmatch(TAG, tag):
            raise Bad(f"{ref}: {tag!r} is not a valid tag")
    parts = name.split("/")
    if len(parts) > 1 and (re.fullmatch(DOMAIN, parts[0]) and ("." in parts[0] or ":" in parts[0]
                                                               or parts[0] == "localhost")):
        domain, path = parts[0], parts[1:]
    else:
        domain, path = "docker.io", parts
        if len(path) == 1:
            path = ["library"] + path
    if not path or not all(re.fullmatch(PATH_COMPONENT, p) for p in path):
        raise Bad(f"{ref}: {'/'.join(path)!r} is not a valid repository name")
    return f"{domain}/{'/'.join(path)}", tag, digest


def normalized(ref):
    name, tag, digest = parse(ref)
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def images(path):
    """[(name or None, target digest or None)] containerd imports from the archive."""
    try:
        tar = tarfile.open(path)
    except (OSError, tarfile.TarError) as e:
        raise SystemExit(f"check-image-names: {path}: not a tar archive ({e})") from None
    members = {m.name.lstrip("./"): m for m in tar.getmembers() if m.isfile()}
    if "oci-layout" in members and "index.json" in members:
        index = json.load(tar.extractfile(members["index.json"]))
        return [((m.get("annotations") or {}).get("io.containerd.image.name"), m.get("digest"))
                for m in index.get("manifests", [])]
    if "manifest.json" in members:
        out = []
        for m in json.load(tar.extractfile(members["manifest.json"])):
            tags = m.get("RepoTags") or [None]
            out += [(t, None) for t in tags]
        return out
    raise SystemExit(f"check-image-names: {path}: neither an OCI archive (oci-layout, index.json) nor a "
                     "docker-archive (manifest.json)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archive")
    ap.add_argument("--want", action="append", default=[], help="a reference the kubelet will ask for")
    ap.add_argument("--want-file", help="a file with one wanted reference per line")
    a = ap.parse_args()
    wanted = list(a.want)
    if a.want_file:
        wanted += [line.strip() for line in open(a.want_file, encoding="utf-8") if line.strip()]
    problems, answers = [], set()
    found = images(a.archive)
    if not found:
        problems.append("no images")
    for name, digest in found:
        if not name:
            problems.append(f"an image ({digest or 'docker-archive entry'}) has no name: containerd imports it "
                            "unnamed, and nothing can refer to it")
            continue
        try:
            full, tag, ref_digest = parse(name)
        except Bad as e:
            problems.append(str(e))
            continue
        if tag is None:
            problems.append(f"{name}: digest-only: k3s cannot re-tag it (parseNamedTagged), the file's import "
                            "fails and it is imported again at every boot; export it by a tag "
                            "(e.g. name:sha256-<hex>)")
            continue
        answers.add(normalized(name))
        alias = f"{full}@{digest}" if digest else f"{full}@<digest of the manifest containerd writes>"
        answers.add(alias)
        print(f"{name}: k3s re-tags it as {alias}")
    for ref in wanted:
        try:
            want = normalized(ref)
        except Bad as e:
            problems.append(f"wanted {e}")
            continue
        if want not in answers:
            problems.append(f"{ref}: no image in {a.archive} answers to it after k3s's import")
    for p in problems:
        print(f"check-image-names: {a.archive}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"{a.archive}: {len(found)} image name(s), all re-taggable by k3s; {len(wanted)} wanted reference(s) answered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
