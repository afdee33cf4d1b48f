# The iml4e image: the component library (and the whole iml4e package) with its locked dependencies
# and the `ray` extra,
# plus what the cluster services need on top (Postgres drivers, boto3 for S3, Flask-WTF for MLflow's auth app). One image runs
#   - every pipeline component on Kubeflow Pipelines (no pip install at run time),
#   - the MLflow tracking server (Postgres backend, S3 artifacts),
#   - the Feast feature server (Postgres registry and online store),
#   - the model server of every InferenceService (ServingRuntime iml4e-mlflow) and the drift monitor,
#   - the head and workers of the RayCluster that detect_errors uses (profile full), so Ray and Python
#     are the same on both ends of the Ray client connection and the workers import iml4e_components.
#
# Build and push (the tag must match what components use: iml4e_components.kfp_component.component_image(),
# i.e. $IML4E_COMPONENT_IMAGE or ghcr.io/iml4e/iml4e-python:<version>):
#   IMAGE=$(.venv/bin/python -c "from iml4e_components.kfp_component import component_image; print(component_image())")
#   docker build -t "$IMAGE" . && docker push "$IMAGE"
# For a kind cluster without a registry: kind load docker-image "$IMAGE" --name iml4e

ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/iml4e
WORKDIR /src
# Dependencies first (cached layer), exactly as locked in uv.lock, without dev tools.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra ray --no-install-project
COPY platform platform
COPY components components
COPY pipelines pipelines
COPY manifests manifests
RUN uv sync --frozen --no-dev --extra ray --no-editable \
 && uv pip install --python /opt/iml4e/bin/python \
      "psycopg2-binary==2.9.13" "psycopg[binary]==3.3.9" "boto3==1.44.8" "Flask-WTF==1.3.0"

FROM ${PYTHON_IMAGE}
COPY --from=build /opt/iml4e /opt/iml4e
ENV PATH=/opt/iml4e/bin:$PATH PYTHONUNBUFFERED=1 HOME=/tmp
RUN useradd --uid 1000 --user-group --no-create-home --shell /usr/sbin/nologin iml4e
# KubeRay starts Ray in a login shell (bash -lc), where Debian's /etc/profile resets PATH for non-root
# users; this puts the environment's bin (ray, python) back in front.
RUN echo 'export PATH=/opt/iml4e/bin:$PATH' > /etc/profile.d/iml4e-path.sh
USER 1000:1000
WORKDIR /tmp
# Smoke check at build time: the components and the servers import, and `ray` is found the way KubeRay
# starts it (a login shell as the non-root user).
RUN python -c "import iml4e_components, iml4e_pipelines, mlflow, feast, minio, psycopg2, boto3, flask_wtf, ray, grpc" \
 && bash -lc 'ray --version'
CMD ["python", "-c", "import iml4e_components; print(iml4e_components.__version__)"]
