"""Render deploy/k8s overlays in Python, for tests on machines without kubectl or kustomize.

Only the kustomization fields deploy/k8s uses are supported (resources, namespace, images, replicas,
patches by file); any other field is refused rather than ignored, so the rendering cannot silently
differ from kustomize's. Patches are strategic merges: maps merge, the lists Kubernetes merges by a key
(containers by name, volume mounts by mount path...) merge item by item, other lists are replaced.
tests/unit/test_k8s.py compares this rendering with ``kubectl kustomize`` where kubectl is installed.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "replicas", "patches"}

# Kubernetes' patchMergeKey of the list fields the patches may touch; other lists are replaced whole.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "ports": "containerPort", "imagePullSecrets": "name"}

CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
                  "CustomResourceDefinition", "PriorityClass"}

SCALABLE = {"Deployment", "StatefulSet", "ReplicaSet"}


class UnsupportedKustomization(ValueError):
    """The kustomization uses something this renderer does not implement."""


def load_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def strategic_merge(target: dict, patch: dict, field: str | None = None) -> dict:
    """``patch`` merged into a copy of ``target``.

    >>> strategic_merge({"containers": [{"name": "a", "image": "x"}, {"name": "b"}], "args": [1]},
    ...                 {"containers": [{"name": "a", "image": "y"}], "args": [2]})
    {'containers': [{'name': 'a', 'image': 'y'}, {'name': 'b'}], 'args': [2]}
    """
    merged = copy.deepcopy(target)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = strategic_merge(merged[key], value, key)
        elif isinstance(value, list) and isinstance(merged.get(key), list) and key in MERGE_KEYS:
            merged[key] = _merge_list(merged[key], value, MERGE_KEYS[key])
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _merge_list(items: list[dict], patch: list[dict], merge_key: str) -> list[dict]:
    result = [copy.deepcopy(item) for item in items]
    for patch_item in patch:
        for i, item in enumerate(result):
            if item.get(merge_key) == patch_item.get(merge_key):
                result[i] = strategic_merge(item, patch_item)
                break
        else:
            result.append(copy.deepcopy(patch_item))
    return result


def pod_specs(doc: dict) -> list[dict]:
    """The pod specs inside a workload (a Job's, a Deployment's or a StatefulSet's template)."""
    template = doc.get("spec", {}).get("template")
    return [template["spec"]] if template else []


def _set_image(image: str, rule: dict) -> str | None:
    name, tag = image, None
    if "@" not in image and ":" in image.rsplit("/", 1)[-1]:
        name, tag = image.rsplit(":", 1)
    if name != rule["name"]:
        return None
    name = rule.get("newName", name)
    tag = rule.get("newTag", tag)
    return f"{name}:{tag}" if tag else name


def render(directory: Path) -> list[dict]:
    """The objects ``kubectl kustomize directory`` would print (in file order, not kustomize's)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise UnsupportedKustomization(f"{directory}: {sorted(unknown)} not supported by this renderer")
    docs: list[dict] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        docs += render(path) if path.is_dir() else load_documents(path)

    def find(kind: str, name: str) -> int:
        matches = [i for i, d in enumerate(docs) if d["kind"] == kind and d["metadata"]["name"] == name]
        if len(matches) != 1:
            raise UnsupportedKustomization(f"{directory}: {len(matches)} {kind}/{name} to patch")
        return matches[0]

    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise UnsupportedKustomization(f"{directory}: only patches by path are supported: {patch_entry}")
        for patch in load_documents(directory / patch_entry["path"]):
            i = find(patch["kind"], patch["metadata"]["name"])
            docs[i] = strategic_merge(docs[i], patch)
    for rule in kustomization.get("replicas", []):
        [i] = [i for i, d in enumerate(docs) if d["kind"] in SCALABLE and d["metadata"]["name"] == rule["name"]]
        docs[i]["spec"]["replicas"] = rule["count"]
    for rule in kustomization.get("images", []):
        for doc in docs:
            for spec in pod_specs(doc):
                for container in spec.get("containers", []) + spec.get("initContainers", []):
                    new = _set_image(container["image"], rule)
                    if new is not None:
                        container["image"] = new
    if "namespace" in kustomization:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = kustomization["namespace"]
    return docs
