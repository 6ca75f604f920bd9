"""A small renderer of the kustomize features deploy/k8s uses, for machines without kustomize.

`kubectl kustomize` is the reference (tests/deploy/test_manifests.py renders with it when it is
installed, and checks this renderer gives the same objects). This one knows exactly:
`resources` (files and directories holding a kustomization), `patches` given as a `path` to a
strategic-merge patch, `images` (newName/newTag) and `namespace`. Anything else in a
kustomization raises, so the manifests cannot quietly outgrow it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]
SUPPORTED = {"apiVersion", "kind", "resources", "patches", "images", "namespace"}
# The merge keys strategic merge uses for the lists our manifests patch (Kubernetes' patchMergeKey).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "ports": "containerPort",
              "volumes": "name", "volumeMounts": "mountPath", "envFrom": None}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}


class UnsupportedKustomization(ValueError):
    pass


def render(directory: Path) -> list[Doc]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise UnsupportedKustomization(f"{directory}: fields {sorted(unknown)} are not supported; allowed: {sorted(SUPPORTED)}")
    docs: list[Doc] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        docs += render(path) if path.is_dir() else _load(path)
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise UnsupportedKustomization(f"{directory}: only `patches: - path: file` (strategic merge) is supported, got {patch}")
        for p in _load(directory / patch["path"]):
            target = _find(docs, p["kind"], p["metadata"]["name"])
            _merge(target, p)
    namespace = kustomization.get("namespace")
    if namespace:
        for d in docs:
            if d["kind"] not in CLUSTER_SCOPED:
                d["metadata"]["namespace"] = namespace
    for image in kustomization.get("images", []):
        for d in docs:
            _set_image(d, image)
    return docs


def _load(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _find(docs: list[Doc], kind: str, name: str) -> Doc:
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    raise UnsupportedKustomization(f"patch target {kind}/{name} is not among the resources")


def _merge(target: Doc, patch: Doc) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, list) and isinstance(target.get(key), list) and MERGE_KEYS.get(key):
            _merge_list(target[key], value, MERGE_KEYS[key])  # type: ignore[arg-type]
        else:
            target[key] = copy.deepcopy(value)


def _merge_list(target: list[Doc], patch: list[Doc], key: str) -> None:
    for item in patch:
        match = next((t for t in target if t.get(key) == item.get(key)), None)
        if match is None:
            target.append(copy.deepcopy(item))
        else:
            _merge(match, item)


def _set_image(node: Any, image: Doc) -> None:
    if isinstance(node, dict):
        for key in ("containers", "initContainers"):
            for c in node.get(key) or []:
                name, _, tag = str(c.get("image", "")).partition(":")
                if name == image["name"]:
                    c["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}".rstrip(":")
        for value in node.values():
            _set_image(value, image)
    elif isinstance(node, list):
        for value in node:
            _set_image(value, image)
