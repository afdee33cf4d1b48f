"""The one version matrix: every image tag and upstream release iml4e installs, in one place.

Bump a version here and nowhere else: the manifests carry image names without tags and
`compose` sets each tag from `IMAGES`; `manifests/upstream.lock.yaml` names upstream releases
whose versions must equal `UPSTREAM` (a unit test checks that they agree).
"""

from __future__ import annotations

from iml4e_components.kfp_component import component_image

#: Kubernetes minor versions the platform is tested against (inclusive range).
KUBERNETES_MIN = (1, 30)
KUBERNETES_MAX = (1, 36)

#: kind node images per Kubernetes minor (`iml4e cluster create` uses the newest).
KIND_NODE_IMAGES: dict[tuple[int, int], str] = {(1, 35): "v1.35.0"}

#: Upstream projects installed from their release manifests (see manifests/upstream.lock.yaml).
UPSTREAM: dict[str, str] = {
    "kubeflow-pipelines": "2.16.1",
    "kserve": "v0.20.0",
    "cert-manager": "v1.19.4",
    "kuberay": "v1.7.0",
}

#: The Ray release the RayCluster declares (`spec.rayVersion`). Its Pods run the iml4e image, whose Ray
#: is the one locked in uv.lock (the `ray` extra); a unit test checks that the two agree.
RAY_VERSION = "2.60.0"

#: Image name (as written in our bases, without a tag) -> pinned tag.
IMAGES: dict[str, str] = {
    "docker.io/library/postgres": "18.1-bookworm",
    "docker.io/chrislusf/seaweedfs": "4.47",
    "quay.io/prometheus/prometheus": "v3.11.2",
    "quay.io/prometheus/alertmanager": "v0.33.0",
    "docker.io/grafana/grafana": "13.0.2",
    "docker.io/kserve/storage-initializer": UPSTREAM["kserve"],
}

#: The iml4e image (components, MLflow server, Feast feature server): built from the Dockerfile.
IML4E_IMAGE_NAME = "iml4e-image"


def iml4e_image() -> str:
    """The iml4e image with its tag, from the components' one image setting."""
    return component_image()


def image_tags() -> dict[str, str]:
    """Every image name -> full reference, including the iml4e image."""
    references = {name: f"{name}:{tag}" for name, tag in IMAGES.items()}
    references[IML4E_IMAGE_NAME] = iml4e_image()
    return references


#: Python services that run from the iml4e image: their versions are the ones locked in uv.lock
#: (the image is built from it), read from the installed distributions.
IMAGE_PACKAGES = ("mlflow", "feast", "kfp")


def version_matrix() -> dict[str, str]:
    """A flat view for `iml4e render --versions` and the upgrade plan: component -> version."""
    from importlib.metadata import PackageNotFoundError, version

    matrix = {name: version for name, version in UPSTREAM.items()}
    for name, tag in IMAGES.items():
        matrix[name.rsplit("/", 1)[-1]] = tag
    matrix["iml4e"] = iml4e_image().rsplit(":", 1)[-1]
    matrix["ray (RayCluster, iml4e image)"] = RAY_VERSION
    for package in IMAGE_PACKAGES:
        try:
            matrix[f"{package} (iml4e image)"] = version(package)
        except PackageNotFoundError:
            matrix[f"{package} (iml4e image)"] = "not installed"
    return matrix
