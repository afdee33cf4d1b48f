"""`PlatformConfig`: what to install on a cluster, read from iml4e.yaml.

Every field is documented; unknown keys are rejected; errors name the key and the fix.
Each platform service is `managed` (installed by iml4e) or `external` (an existing service the
installer only wires components to).
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from iml4e.errors import UsageError

if TYPE_CHECKING:
    from iml4e_components.rollout.analysis import Thresholds

DEFAULT_CONFIG_FILE = "iml4e.yaml"

Profile = Literal["minimal", "standard", "full"]
PROFILES: tuple[Profile, ...] = ("minimal", "standard", "full")
#: The parts a profile may hold. What each profile holds is declared once, by its overlay
#: (manifests/overlays/PROFILE includes manifests/base/PART); `profile_parts` reads it from there.
PARTS = ("serving", "monitoring", "feast", "ray")
#: The service (services.* in iml4e.yaml) that each optional part installs.
_PART_OF_SERVICE = {"prometheus": "monitoring", "feast": "feast", "ray": "ray"}


@cache
def profile_parts(profile: str) -> frozenset[str]:
    """The optional parts (PARTS) that `profile`'s overlay includes."""
    from iml4e.installer.compose import bases_of
    from iml4e.paths import manifests_dir

    return bases_of(manifests_dir() / "overlays" / profile) & frozenset(PARTS)


class Mode(StrEnum):
    managed = "managed"
    external = "external"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MlflowService(_Strict):
    mode: Mode = Field(
        default=Mode.managed, description="managed: iml4e runs MLflow + Postgres; external: use `uri`."
    )
    uri: str | None = Field(
        default=None, description="Tracking URI of an existing MLflow server (external mode)."
    )
    credentials_secret: str | None = Field(
        default=None,
        description="Secret in the platform namespace with keys username/password for an external MLflow.",
    )


class ObjectStoreService(_Strict):
    mode: Mode = Field(
        default=Mode.managed, description="managed: iml4e runs SeaweedFS S3; external: use `endpoint`."
    )
    endpoint: str | None = Field(
        default=None, description="S3 endpoint URL of an existing store (external mode)."
    )
    region: str = Field(default="us-east-1", description="S3 region sent by clients.")
    bucket: str = Field(default="iml4e", description="Bucket for MLflow artifacts, models and Feast data.")
    credentials_secret: str | None = Field(
        default=None,
        description="Secret in the platform namespace with keys AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
        "(required in external mode; generated in managed mode).",
    )


class PrometheusService(_Strict):
    mode: Mode = Field(
        default=Mode.managed, description="managed: Prometheus+Alertmanager+Grafana; external: use `url`."
    )
    url: str | None = Field(default=None, description="URL of an existing Prometheus (external mode).")


class FeastService(_Strict):
    mode: Mode = Field(
        default=Mode.managed,
        description="managed: Feast feature server (profile full); external: `registry`.",
    )
    registry: str | None = Field(
        default=None, description="Registry path/URI of an existing Feast deployment (external)."
    )


class RayMode(StrEnum):
    managed = "managed"
    external = "external"
    off = "off"


#: A Kubernetes quantity as iml4e.yaml may give it: a plain or decimal number, millicores, or a
#: binary/decimal byte suffix ("2", "500m", "0.5", "4Gi", "512Mi", "1G").
_QUANTITY = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:m|[kMGT]|[KMGT]i)?$")
#: What an external Ray address may look like: Ray client (ray://HOST:PORT) or a GCS address (HOST:PORT).
_RAY_ADDRESS = re.compile(r"^(?:ray://)?(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$")


class RayPodResources(_Strict):
    """Requests of one Ray Pod; the limits are the same (the Pod gets exactly this)."""

    cpu: str = Field(default="1", description="CPU of the Pod (a Kubernetes quantity: 1, 500m, 2).")
    memory: str = Field(default="4Gi", description="Memory of the Pod (a Kubernetes quantity: 4Gi, 512Mi).")

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> str:
        text = str(value).strip()
        if not _QUANTITY.match(text) or not re.search(r"[1-9]", text.rstrip("mkMGTi")):
            raise ValueError(
                f"'{value}' is not a positive Kubernetes quantity; write it like 2, 500m, 4Gi or 512Mi"
            )
        return text


class RayService(_Strict):
    mode: RayMode = Field(
        default=RayMode.managed,
        description="managed: the KubeRay operator and a RayCluster (profile full); external: use `address`; "
        "off: detect_errors runs its local engine inside the step.",
    )
    address: str | None = Field(
        default=None,
        description="Address of an existing Ray cluster (external mode): ray://HOST:PORT (Ray client) or "
        "HOST:PORT (GCS), reachable from the pipeline Pods in namespace kubeflow.",
    )
    workers: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Worker Pods of the managed RayCluster (at least 1 in managed mode).",
    )
    head: RayPodResources = Field(
        default_factory=lambda: RayPodResources(cpu="500m", memory="1Gi"),
        description="Resources of the head Pod (it runs no detection tasks: num-cpus 0).",
    )
    worker: RayPodResources = Field(
        default_factory=lambda: RayPodResources(),
        description="Resources of each worker Pod; Ray runs one task per CPU in it.",
    )

    @model_validator(mode="after")
    def _mode_needs(self) -> RayService:
        if self.mode is RayMode.managed and self.workers < 1:
            raise ValueError(
                f"workers is {self.workers}; a managed RayCluster needs at least 1 worker, "
                "or set mode: off to run detection inside the step"
            )
        if self.mode is RayMode.external:
            if not self.address:
                raise ValueError("address is required when mode is external; set it to ray://HOST:PORT")
            if not _RAY_ADDRESS.match(self.address.strip()):
                raise ValueError(
                    f"address '{self.address}' is not a Ray address; write ray://HOST:PORT or HOST:PORT"
                )
        return self


class Services(_Strict):
    mlflow: MlflowService = Field(default_factory=lambda: MlflowService())
    object_store: ObjectStoreService = Field(default_factory=lambda: ObjectStoreService())
    prometheus: PrometheusService = Field(default_factory=lambda: PrometheusService())
    feast: FeastService = Field(default_factory=lambda: FeastService())
    ray: RayService = Field(
        default_factory=lambda: RayService(),
        description="Ray for error detection (the Ray engine of detect_errors); installed in profile full.",
    )


class Storage(_Strict):
    storage_class: str | None = Field(
        default=None, description="StorageClass for every volume; default: the cluster's."
    )
    postgres: str = Field(default="5Gi", description="Size of the Postgres volume.")
    object_store: str = Field(default="20Gi", description="Size of the SeaweedFS volume.")
    prometheus: str = Field(default="10Gi", description="Size of the Prometheus volume.")


class AlertThresholds(_Strict):
    """Thresholds of the shipped alert rules (manifests/base/monitoring/alert-rules.yaml)."""

    endpoint_down_minutes: int = Field(
        default=2,
        ge=1,
        le=1440,
        description="Minutes a model endpoint may miss its scrapes (Iml4eModelEndpointDown).",
    )
    latency_p99_seconds: float = Field(
        default=0.25,
        gt=0,
        le=60,
        description="Latency SLO: p99 of inference latency above it for 10 minutes fires Iml4eModelLatencySLOBreach.",
    )
    server_error_ratio: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Share of 5xx answers (5-minute rate) above which Iml4eModelServerErrors fires after 5 minutes.",
    )
    bad_request_ratio: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Share of 4xx answers (5-minute rate) above which Iml4eModelBadRequests fires after 15 minutes.",
    )
    feature_drift_hours: int = Field(
        default=6,
        ge=1,
        le=720,
        description="Hours a feature must stay drifted before Iml4eFeatureDrift fires.",
    )
    monitor_stale_hours: int = Field(
        default=3,
        ge=1,
        le=720,
        description="Hours without a finished drift run before Iml4eDriftMonitorStale fires.",
    )


class Alerting(_Strict):
    webhook_secret: str | None = Field(
        default=None,
        description="Secret in iml4e-monitoring with key `url`: the webhook Alertmanager posts alerts to. "
        "Without it alerts are kept in Alertmanager's UI only (no receiver is invented).",
    )
    thresholds: AlertThresholds = Field(
        default_factory=lambda: AlertThresholds(), description="Thresholds of the shipped alert rules."
    )


class Cluster(_Strict):
    kubeconfig: str | None = Field(
        default=None, description="Path of the kubeconfig; default: $KUBECONFIG or ~/.kube/config."
    )
    context: str | None = Field(default=None, description="kubeconfig context; default: the current context.")
    connect_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Timeout of each API request."
    )
    stage_timeout_seconds: int = Field(
        default=600, gt=0, le=3600, description="Bound on each install stage's wait."
    )


class Upstream(_Strict):
    cache_dir: str | None = Field(
        default=None, description="Upstream manifest cache; default: <state dir>/upstream."
    )
    bundle_dir: str | None = Field(
        default=None, description="A directory written by `iml4e bundle` (air-gapped install)."
    )


class Images(_Strict):
    registry_mirror: str | None = Field(
        default=None,
        description="Registry host that mirrors every image (air-gapped); replaces the registry part.",
    )
    pin_digests: bool = Field(
        default=False,
        description="Render every image as tag@sha256:... from the digests recorded in "
        "manifests/upstream.lock.yaml by `iml4e bundle --record-digests --image-digests SOURCE`; "
        "an image without a recorded digest stops the rendering.",
    )


_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,43}[a-z0-9])?$")


class MonitoredModel(_Strict):
    name: str = Field(
        description="Endpoint name of the served model (the InferenceService name, e.g. churn-classifier)."
    )
    reference: str = Field(
        description="Reference data its inputs are compared with: s3://bucket/key of a CSV or Parquet file "
        "(usually the model's training table)."
    )

    @field_validator("name")
    @classmethod
    def _endpoint_name(cls, value: str) -> str:
        if not _DNS_1035.match(value):
            raise ValueError(
                f"'{value}' is not an endpoint name; use lower-case letters, digits and '-', "
                "starting with a letter (at most 45 characters)"
            )
        return value

    @field_validator("reference")
    @classmethod
    def _in_object_store(cls, value: str) -> str:
        bucket, _, key = value.removeprefix("s3://").partition("/")
        if not value.startswith("s3://") or not bucket or not key:
            raise ValueError(
                f"'{value}' is not in the object store; upload the reference table and give its s3://bucket/key"
            )
        return value


class DriftMonitor(_Strict):
    models: list[MonitoredModel] = Field(
        default_factory=list,
        description="Served models whose logged requests the drift monitor compares with reference data. "
        "Empty (the default): no drift monitor is installed. Needs profile standard or full.",
    )
    interval_seconds: int = Field(
        default=900, ge=60, le=86_400, description="Seconds between two rounds of drift checks."
    )
    window: str = Field(
        default="1d", description="How recent the compared requests are: 30m, 6h, 1d, 2w ... or all."
    )
    request_log_prefix: str = Field(
        default="request-logs",
        description="Key prefix of the request logs in the object store bucket (services.object_store.bucket).",
    )
    request_log_sample_rate: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of served requests the model servers log for the drift monitor (0 turns logging off).",
    )

    @field_validator("window")
    @classmethod
    def _duration(cls, value: str) -> str:
        from iml4e_components.errors import ComponentError
        from iml4e_components.monitoring.core import parse_window

        try:
            parse_window(value)
        except ComponentError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("models")
    @classmethod
    def _distinct(cls, value: list[MonitoredModel]) -> list[MonitoredModel]:
        names = [model.name for model in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"models {twice} are listed more than once; keep one entry per model")
        return value


class Monitoring(_Strict):
    drift: DriftMonitor = Field(
        default_factory=lambda: DriftMonitor(),
        description="The drift monitor Deployment (iml4e-drift-monitor in iml4e-serving).",
    )


class Rollout(_Strict):
    """How `iml4e rollout watch` judges a canary against the primary (figures over a sliding window),
    and the margins by which a canary may be worse than the primary it is compared with.

    A breach of any limit rolls the canary back at once; `promote_after_seconds` of watching without
    one promotes it. Limits that even a canary as good as the primary would breach are refused. The
    shipped alert rules Iml4eCanaryServerErrors and Iml4eCanaryLatency are rendered with the margins."""

    window_seconds: float = Field(
        default=60.0, gt=0, description="Seconds of served requests the figures are computed over."
    )
    min_requests: int = Field(
        default=100,
        ge=1,
        description="Requests each variant must have in the window before anything is judged.",
    )
    max_error_ratio_increase: float = Field(
        default=0.01,
        ge=0,
        lt=1,
        description="How far the canary's share of 5xx answers may exceed the primary's (0.01: one point).",
    )
    max_malformed_ratio_increase: float = Field(
        default=0.02,
        ge=0,
        lt=1,
        description="How far the canary's share of 4xx (malformed-request) answers may exceed the primary's.",
    )
    max_p99_latency_ratio: float = Field(
        default=2.0,
        ge=1,
        le=100,
        description="The canary's p99 latency may be at most this many times the primary's ...",
    )
    p99_latency_slack_ms: float = Field(
        default=25.0,
        ge=0,
        le=60_000,
        description="... plus this many milliseconds (small latencies are noisy).",
    )
    min_labelled_rows: int = Field(
        default=50,
        ge=1,
        description="Labelled rows (iml4e label) each variant needs before accuracy and macro F1 are compared.",
    )
    max_accuracy_drop: float = Field(
        default=0.05, ge=0, lt=1, description="How far the canary's accuracy may fall below the primary's."
    )
    max_f1_drop: float = Field(
        default=0.05, ge=0, lt=1, description="How far the canary's macro F1 may fall below the primary's."
    )
    promote_after_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Seconds of watching without a breach after which the canary is promoted.",
    )
    interval_seconds: float = Field(
        default=1.0, gt=0, description="Seconds between two looks at the request log."
    )

    @model_validator(mode="after")
    def _can_pass(self) -> Rollout:
        if self.interval_seconds >= self.promote_after_seconds:
            raise ValueError(
                f"rollout.interval_seconds ({self.interval_seconds:g}) is not shorter than "
                f"rollout.promote_after_seconds ({self.promote_after_seconds:g}), so the canary is never "
                "looked at before it is promoted; shorten the interval"
            )
        return self

    def thresholds(self) -> Thresholds:
        """The analysis's `Thresholds` (iml4e_components.rollout.analysis)."""
        from iml4e_components.rollout.analysis import Thresholds

        return Thresholds(**self.model_dump(exclude={"interval_seconds"}))


class PlatformConfig(_Strict):
    """Everything `iml4e install` needs to know; all keys optional."""

    profile: Profile = Field(default="standard", description="minimal | standard | full.")
    services: Services = Field(default_factory=lambda: Services())
    storage: Storage = Field(default_factory=lambda: Storage())
    alerting: Alerting = Field(default_factory=lambda: Alerting())
    cluster: Cluster = Field(default_factory=lambda: Cluster())
    upstream: Upstream = Field(default_factory=lambda: Upstream())
    images: Images = Field(default_factory=lambda: Images())
    monitoring: Monitoring = Field(default_factory=lambda: Monitoring())
    rollout: Rollout = Field(
        default_factory=lambda: Rollout(),
        description="How a canary is judged against the primary (rollout.*).",
    )

    @model_validator(mode="after")
    def _external_needs_endpoints(self) -> PlatformConfig:
        if self.monitoring.drift.models and not (self.includes("serving") and self.includes("monitoring")):
            raise ValueError(
                "monitoring.drift.models needs served models and Prometheus, which profile minimal lacks; "
                "use profile standard or full, or remove the models"
            )
        s = self.services
        if s.mlflow.mode is Mode.external and not s.mlflow.uri:
            raise ValueError("services.mlflow.uri is required when services.mlflow.mode is external; set it")
        if s.object_store.mode is Mode.external and not (
            s.object_store.endpoint and s.object_store.credentials_secret
        ):
            raise ValueError(
                "services.object_store.endpoint and .credentials_secret are required when "
                "services.object_store.mode is external; set both"
            )
        if s.prometheus.mode is Mode.external and not s.prometheus.url:
            raise ValueError(
                "services.prometheus.url is required when services.prometheus.mode is external; set it"
            )
        if s.feast.mode is Mode.external and not s.feast.registry:
            raise ValueError(
                "services.feast.registry is required when services.feast.mode is external; set it"
            )
        stale, interval = self.alerting.thresholds.monitor_stale_hours, self.monitoring.drift.interval_seconds
        if stale * 3600 <= interval:
            raise ValueError(
                f"alerting.thresholds.monitor_stale_hours ({stale}) is not longer than "
                f"monitoring.drift.interval_seconds ({interval} s), so the stale-monitor alert would always fire; "
                "raise the threshold or shorten the interval"
            )
        return self

    def with_profile(self, profile: str | None) -> PlatformConfig:
        """This config with the profile overridden (from a CLI flag), validated."""
        if profile is None:
            return self
        if profile not in PROFILES:
            raise UsageError(f"unknown profile '{profile}'; use one of {', '.join(PROFILES)}")
        # Validated again as a whole: some settings need a profile (drift models need Prometheus).
        return parse_config(
            {**self.model_dump(mode="json", exclude_unset=True), "profile": profile}, f"--profile {profile}"
        )

    def includes(self, part: str) -> bool:
        """Whether this profile holds `part` (one of PARTS: serving, monitoring, feast)."""
        if part not in PARTS:
            raise ValueError(f"unknown profile part {part!r}; one of {', '.join(PARTS)}")
        return part in profile_parts(self.profile)

    def managed(self, service: str) -> bool:
        """Whether iml4e installs `service` (mlflow, object_store, prometheus, feast, ray) in this profile."""
        part = _PART_OF_SERVICE.get(service)
        if part is not None and not self.includes(part):
            return False
        mode: Mode | RayMode = getattr(self.services, service).mode
        return mode.value == Mode.managed.value


def _format_error(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'; remove it (see docs/reference-architecture.md for the keys)"
    message = first["msg"].removeprefix("Value error, ")
    return f"{source}: {key}: {message}"


def parse_config(data: Any, source: str = DEFAULT_CONFIG_FILE) -> PlatformConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"{source} must hold a mapping of keys (profile, services, ...); fix the file")
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as exc:
        raise UsageError(_format_error(exc, source)) from None


def load_config(path: str | Path | None = None) -> PlatformConfig:
    """Read iml4e.yaml: the given path (must exist), else ./iml4e.yaml when present, else defaults."""
    import yaml

    if path is None:
        candidate = Path(DEFAULT_CONFIG_FILE)
        if not candidate.is_file():
            return PlatformConfig()
        path = candidate
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"config file {file} does not exist; create it or drop -c to use the defaults")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageError(f"{file} is not valid YAML ({str(exc).splitlines()[0]}); fix the syntax") from None
    return parse_config(data, str(file))
