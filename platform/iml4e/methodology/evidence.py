"""Evidence probes: what the platform's own state proves about an organisation's practice.

Each probe reads one thing (pipeline run records, the MLflow server recorded in state.json, the lineage
store, request logs, drift reports, shipped manifests, the cluster configuration) and returns whether it
is evidenced with a short reason. Probes never raise: a missing piece (a service not running, a
capability not installed yet, an unreadable file) means "not evidenced" and says why.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from iml4e.paths import state_dir
from iml4e_components.conventions import CARD_ARTIFACT_DIR, CARD_VERDICT_TAG, lineage_store_path

ALERT_RULES = "base/monitoring/alert-rules.yaml"
CONFIG_FILE = "iml4e.yaml"
_CALIBRATION_METRICS = frozenset({"ece", "mce", "brier"})


@dataclass(frozen=True)
class ProbeResult:
    probe: str
    evidenced: bool
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"probe": self.probe, "evidenced": self.evidenced, "why": self.why}


@dataclass(frozen=True)
class RunFacts:
    run_id: str
    experiment_id: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    dataset_inputs: int


@dataclass(frozen=True)
class VersionFacts:
    name: str
    version: str
    run_id: str
    tags: dict[str, str]


@dataclass
class MlflowFacts:
    """What the MLflow server holds, read once per assessment through its REST API.

    The REST API (with httpx) rather than the MLflow client: importing the client costs seconds, and
    an assessment only needs a few read-only listings.
    """

    url: str
    experiments: dict[str, str] = field(default_factory=dict)  # id -> name
    runs: list[RunFacts] = field(default_factory=list)
    models: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {alias: version}
    versions: list[VersionFacts] = field(default_factory=list)

    def list_artifacts(self, run_id: str, path: str) -> list[str]:
        listing = _rest(self.url, "GET", "artifacts/list", params={"run_id": run_id, "path": path})
        return [str(f.get("path")) for f in listing.get("files", [])]

    def read_artifact(self, run_id: str, path: str) -> bytes:
        import httpx

        response = httpx.get(
            f"{self.url}/get-artifact", params={"run_uuid": run_id, "path": path}, timeout=10
        )
        response.raise_for_status()
        return response.content


class PlatformSnapshot:
    """Lazily read facts about the local platform under one state directory."""

    def __init__(self, root: Path | None = None, workdir: Path | None = None) -> None:
        self.root = root or state_dir()
        self.workdir = workdir or Path.cwd()

    @cached_property
    def runs(self) -> list[dict[str, Any]]:
        from iml4e.local.pipeline_runner import list_runs

        return [r for r in list_runs(self.root) if isinstance(r, dict)]

    @cached_property
    def successful_runs(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r.get("status") == "SUCCESS"]

    @cached_property
    def services(self) -> dict[str, Any]:
        path = self.root / "state.json"
        try:
            services = json.loads(path.read_text(encoding="utf-8")).get("services", {})
        except (OSError, ValueError, AttributeError):
            return {}
        return services if isinstance(services, dict) else {}

    @cached_property
    def mlflow(self) -> MlflowFacts | str:
        """The MLflow server's content, or the reason it cannot be read."""
        record = self.services.get("mlflow")
        if not isinstance(record, dict) or "port" not in record:
            return "no MLflow server is recorded in state.json; start one with 'iml4e up'"
        url = f"http://{record.get('host', '127.0.0.1')}:{record['port']}"
        from iml4e.local.processes import http_ok

        if not http_ok(f"{url}/health", timeout=2.0):
            return (
                f"the MLflow server recorded in state.json ({url}) is not running; start it with 'iml4e up'"
            )
        try:
            return _read_mlflow(url)
        except Exception as exc:  # any client or server failure degrades to "not evidenced"
            return f"reading MLflow at {url} failed ({type(exc).__name__}: {exc})"

    def task_names(self) -> set[str]:
        names: set[str] = set()
        for run in self.successful_runs:
            for task in run.get("tasks") or []:
                if isinstance(task, dict) and task.get("task"):
                    names.add(str(task["task"]))
        return names

    def metric_keys(self) -> set[str]:
        facts = self.mlflow
        if isinstance(facts, str):
            return set()
        return {key for run in facts.runs for key in run.metrics}


def _rest(url: str, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
    import httpx

    response = httpx.request(method, f"{url}/api/2.0/mlflow/{endpoint}", timeout=10, **kwargs)
    response.raise_for_status()
    body = response.json()
    return body if isinstance(body, dict) else {}


def _pairs(items: Any) -> dict[str, Any]:
    return {str(i["key"]): i.get("value") for i in items or [] if isinstance(i, dict) and "key" in i}


def _read_mlflow(url: str) -> MlflowFacts:
    facts = MlflowFacts(url=url)
    listed = _rest(url, "GET", "experiments/search", params={"max_results": 1000})
    facts.experiments = {str(e["experiment_id"]): str(e["name"]) for e in listed.get("experiments", [])}
    if facts.experiments:
        query = {"experiment_ids": list(facts.experiments), "max_results": 1000}
        for run in _rest(url, "POST", "runs/search", json=query).get("runs", []):
            info, data = run.get("info", {}), run.get("data", {})
            facts.runs.append(
                RunFacts(
                    run_id=str(info.get("run_id")),
                    experiment_id=str(info.get("experiment_id")),
                    params={k: str(v) for k, v in _pairs(data.get("params")).items()},
                    metrics={k: float(v) for k, v in _pairs(data.get("metrics")).items()},
                    tags={k: str(v) for k, v in _pairs(data.get("tags")).items()},
                    dataset_inputs=len((run.get("inputs") or {}).get("dataset_inputs") or []),
                )
            )
    for model in _rest(url, "GET", "registered-models/search", params={"max_results": 1000}).get(
        "registered_models", []
    ):
        name = str(model["name"])
        facts.models[name] = {str(a["alias"]): str(a["version"]) for a in model.get("aliases", [])}
        search = {"filter": f"name='{name}'", "max_results": 1000}
        for version in _rest(url, "GET", "model-versions/search", params=search).get("model_versions", []):
            facts.versions.append(
                VersionFacts(
                    name=name,
                    version=str(version.get("version")),
                    run_id=str(version.get("run_id") or ""),
                    tags={k: str(v) for k, v in _pairs(version.get("tags")).items()},
                )
            )
    return facts


Probe = Callable[[PlatformSnapshot], tuple[bool, str]]
PROBES: dict[str, tuple[str, Probe]] = {}


def probe(probe_id: str, description: str) -> Callable[[Probe], Probe]:
    """Register a probe under `probe_id` (the id the data files name)."""

    def register(function: Probe) -> Probe:
        PROBES[probe_id] = (description, function)
        return function

    return register


def _need_mlflow(snapshot: PlatformSnapshot) -> MlflowFacts:
    facts = snapshot.mlflow
    if isinstance(facts, str):
        raise _NotEvidenced(facts)
    return facts


class _NotEvidenced(Exception):
    """Raised inside a probe to answer 'not evidenced' with a reason."""


def run_probe(probe_id: str, snapshot: PlatformSnapshot) -> ProbeResult:
    """Run one probe; never raises."""
    if probe_id not in PROBES:
        return ProbeResult(probe_id, False, f"unknown probe '{probe_id}'")
    try:
        evidenced, why = PROBES[probe_id][1](snapshot)
    except _NotEvidenced as reason:
        return ProbeResult(probe_id, False, str(reason))
    except Exception as exc:  # a probe must never break an assessment
        return ProbeResult(probe_id, False, f"probe failed ({type(exc).__name__}: {exc})")
    return ProbeResult(probe_id, evidenced, why)


def collect_evidence(
    probe_ids: list[str] | None = None, snapshot: PlatformSnapshot | None = None
) -> dict[str, ProbeResult]:
    """Run the named probes (all by default) against one snapshot of the platform."""
    snapshot = snapshot or PlatformSnapshot()
    return {pid: run_probe(pid, snapshot) for pid in (probe_ids if probe_ids is not None else list(PROBES))}


# --- pipeline runs -------------------------------------------------------------------------------


@probe("pipeline_runs", "a pipeline completed through the iml4e runner")
def _pipeline_runs(s: PlatformSnapshot) -> tuple[bool, str]:
    done = Counter(str(r.get("pipeline")) for r in s.successful_runs)
    if not done:
        return False, f"no successful pipeline run recorded under {s.root / 'runs'}"
    listed = ", ".join(f"{name} x{count}" for name, count in done.most_common(3))
    return True, f"{sum(done.values())} successful pipeline run(s): {listed}"


@probe("recurring_runs", "the same pipeline completed at least 3 times on at least 2 days")
def _recurring_runs(s: PlatformSnapshot) -> tuple[bool, str]:
    days: dict[str, set[str]] = {}
    for run in s.successful_runs:
        days.setdefault(str(run.get("pipeline")), set()).add(str(run.get("run_id", ""))[:8])
    counts = Counter(str(r.get("pipeline")) for r in s.successful_runs)
    for name, count in counts.most_common():
        if count >= 3 and len(days[name]) >= 2:
            return True, f"pipeline {name} completed {count} times on {len(days[name])} days"
    return False, "no pipeline has completed at least 3 times on 2 or more days"


@probe("continuous_training_runs", "the continuous_training pipeline completed")
def _continuous_training(s: PlatformSnapshot) -> tuple[bool, str]:
    runs = [r for r in s.successful_runs if "continuous" in str(r.get("pipeline", ""))]
    if runs:
        return True, f"continuous training completed {len(runs)} time(s)"
    return False, "no successful continuous_training run recorded"


@probe("error_detection_used", "error detection ran in a pipeline or logged errors_* metrics")
def _error_detection(s: PlatformSnapshot) -> tuple[bool, str]:
    tasks = sorted(t for t in s.task_names() if "detect-errors" in t or "detect_errors" in t)
    if tasks:
        return True, f"pipeline task {tasks[0]} ran"
    metrics = sorted(k for k in s.metric_keys() if k.startswith("errors_"))
    if metrics:
        return True, f"MLflow metric {metrics[0]} logged"
    return False, "no detect-errors task in any run and no errors_* metric in MLflow"


@probe("data_validation_used", "a schema-validation step ran in a pipeline")
def _data_validation(s: PlatformSnapshot) -> tuple[bool, str]:
    tasks = sorted(t for t in s.task_names() if "validate" in t)
    if tasks:
        return True, f"pipeline task {tasks[0]} ran"
    return False, "no validation task (validate-schema) in any successful pipeline run"


# --- MLflow --------------------------------------------------------------------------------------


@probe("experiments_tracked", "an MLflow experiment holds at least one run")
def _experiments(s: PlatformSnapshot) -> tuple[bool, str]:
    facts = _need_mlflow(s)
    used = Counter(facts.experiments.get(r.experiment_id, "?") for r in facts.runs)
    if not used:
        return False, f"MLflow at {facts.url} holds no runs"
    name, count = used.most_common(1)[0]
    return True, f"{len(facts.runs)} run(s) in {len(used)} experiment(s), e.g. '{name}' ({count})"


def _runs_with(
    s: PlatformSnapshot, keep: Callable[[RunFacts], bool], what: Callable[[RunFacts], str], missing: str
) -> tuple[bool, str]:
    """Evidenced when some MLflow run passes `keep`; the reason shows `what` of the first one."""
    found = [r for r in _need_mlflow(s).runs if keep(r)]
    if found:
        return True, f"{len(found)} run(s) {what(found[0])}"
    return False, missing


@probe("params_logged", "an MLflow run has parameters")
def _params(s: PlatformSnapshot) -> tuple[bool, str]:
    return _runs_with(
        s,
        lambda r: bool(r.params),
        lambda r: f"with parameters, e.g. {', '.join(sorted(r.params)[:3])}",
        "no MLflow run has logged parameters",
    )


@probe("metrics_logged", "an MLflow run has evaluation metrics")
def _metrics(s: PlatformSnapshot) -> tuple[bool, str]:
    return _runs_with(
        s,
        lambda r: bool(r.metrics),
        lambda r: f"with metrics, e.g. {', '.join(sorted(r.metrics)[:3])}",
        "no MLflow run has logged metrics",
    )


@probe("seeded_runs", "an MLflow run recorded its random seed")
def _seeded(s: PlatformSnapshot) -> tuple[bool, str]:
    return _runs_with(
        s,
        lambda r: "seed" in r.params,
        lambda r: f"recorded a seed (e.g. seed={r.params['seed']})",
        "no MLflow run has a 'seed' parameter",
    )


@probe("dataset_digest_logged", "an MLflow run recorded the digest of its training data")
def _digest(s: PlatformSnapshot) -> tuple[bool, str]:
    facts = _need_mlflow(s)
    tagged = [r for r in facts.runs if "iml4e.train_digest" in r.tags]
    if tagged:
        return True, f"{len(tagged)} run(s) carry the training-data digest tag iml4e.train_digest"
    inputs = [r for r in facts.runs if r.dataset_inputs]
    if inputs:
        return True, f"{len(inputs)} run(s) logged dataset inputs with digests"
    return False, "no MLflow run records a training-data digest"


@probe("calibration_measured", "a calibration error metric (ece, mce, brier) was logged")
def _calibration(s: PlatformSnapshot) -> tuple[bool, str]:
    _need_mlflow(s)
    keys = sorted(k for k in s.metric_keys() if k in _CALIBRATION_METRICS or "calibration" in k)
    if keys:
        return True, f"MLflow metric {keys[0]} logged"
    return False, "no calibration metric (ece, mce, brier, calibration_*) in MLflow"


@probe("slice_metrics", "metrics per data slice were recorded")
def _slices(s: PlatformSnapshot) -> tuple[bool, str]:
    _need_mlflow(s)
    # The evaluation step names a slice metric METRIC__COLUMN:VALUE.
    keys = sorted(k for k in s.metric_keys() if "slice" in k or ("__" in k and ":" in k))
    if keys:
        return True, f"MLflow metric {keys[0]} logged"
    card = _champion_card(s)
    if card is not None:
        metrics = card.get("quantitative_analysis", {}).get("performance_metrics", []) or []
        sliced = [m for m in metrics if isinstance(m, dict) and m.get("slice")]
        if sliced:
            return True, f"the model card lists {len(sliced)} metric(s) per slice"
    return False, "no slice metric in MLflow and no per-slice metric in a model card"


@probe("registered_model", "a model is registered in the MLflow registry")
def _registered(s: PlatformSnapshot) -> tuple[bool, str]:
    facts = _need_mlflow(s)
    if facts.models:
        names = ", ".join(list(facts.models)[:3])
        return True, f"{len(facts.models)} registered model(s): {names}"
    return False, f"the registry at {facts.url} holds no models"


def _aliased(facts: MlflowFacts, alias: str) -> list[tuple[str, str]]:
    return [(name, aliases[alias]) for name, aliases in facts.models.items() if alias in aliases]


@probe("champion_alias", "a registered model has a 'champion' alias")
def _champion(s: PlatformSnapshot) -> tuple[bool, str]:
    found = _aliased(_need_mlflow(s), "champion")
    if found:
        return True, f"{found[0][0]}@champion is version {found[0][1]}"
    return False, "no registered model has a 'champion' alias"


@probe("promotion_gate", "a champion was chosen by a gated metric recorded on its version")
def _gate(s: PlatformSnapshot) -> tuple[bool, str]:
    facts = _need_mlflow(s)
    champions = dict(_aliased(facts, "champion"))
    for version in facts.versions:
        if champions.get(version.name) != str(version.version):
            continue
        gated = sorted(k for k in version.tags if k.startswith("iml4e.") and k != CARD_VERDICT_TAG)
        if gated:
            return True, f"{version.name}@champion (v{version.version}) was promoted on {gated[0]}"
    return False, "no champion version carries a gated-metric tag (iml4e.<metric>)"


def _card_versions(facts: MlflowFacts, verdict: str | None) -> list[VersionFacts]:
    return [
        v
        for v in facts.versions
        if CARD_VERDICT_TAG in v.tags and (verdict is None or v.tags[CARD_VERDICT_TAG] == verdict)
    ]


@probe("model_card_present", "a model card was written for a registered model")
def _card_present(s: PlatformSnapshot) -> tuple[bool, str]:
    facts = _need_mlflow(s)
    carded = _card_versions(facts, None)
    if carded:
        return True, f"{len(carded)} model version(s) carry a model-card verdict"
    runs = [r for r in facts.runs if CARD_VERDICT_TAG in r.tags]
    if runs:
        return True, f"{len(runs)} MLflow run(s) logged a model card with a verdict"
    for version in facts.versions[:20]:
        if version.run_id and facts.list_artifacts(version.run_id, CARD_ARTIFACT_DIR):
            return True, f"{version.name} v{version.version} has model-card artifacts"
    return False, "no registered model version has a model card (model_card/ artifacts or a verdict tag)"


@probe("model_card_pass", "a model version passed the model-card specification check")
def _card_pass(s: PlatformSnapshot) -> tuple[bool, str]:
    facts = _need_mlflow(s)
    passed = _card_versions(facts, "pass")
    if passed:
        return True, f"{passed[0].name} v{passed[0].version} has {CARD_VERDICT_TAG}=pass"
    runs = [r for r in facts.runs if r.tags.get(CARD_VERDICT_TAG) == "pass"]
    if runs:
        return True, f"{len(runs)} MLflow run(s) tagged {CARD_VERDICT_TAG}=pass by the model-card gate"
    return False, f"no model version or run is tagged {CARD_VERDICT_TAG}=pass"


def _champion_card(s: PlatformSnapshot) -> dict[str, Any] | None:
    """The model card (card.json) of a champion version, if one was logged."""
    facts = s.mlflow
    if isinstance(facts, str):
        return None
    champions = dict(_aliased(facts, "champion"))
    for version in facts.versions:
        if champions.get(version.name) != str(version.version) or not version.run_id:
            continue
        try:
            card = json.loads(facts.read_artifact(version.run_id, f"{CARD_ARTIFACT_DIR}/card.json"))
        except Exception:  # nosec B112  # no readable card for this version: try the next one
            continue
        if isinstance(card, dict):
            return card
    return None


@probe("ethics_considerations", "the champion's model card records ethical considerations")
def _ethics(s: PlatformSnapshot) -> tuple[bool, str]:
    _need_mlflow(s)
    card = _champion_card(s)
    if card is None:
        return False, "no champion model has a model card (model_card/card.json)"
    considerations = card.get("considerations") or {}
    ethical = considerations.get("ethical_considerations") if isinstance(considerations, dict) else None
    if ethical:
        return True, f"the champion's model card lists {len(ethical)} ethical consideration(s)"
    return False, "the champion's model card has no ethical considerations"


# --- files under the state directory ---------------------------------------------------------------


@probe("lineage_events", "OpenLineage events were recorded")
def _lineage(s: PlatformSnapshot) -> tuple[bool, str]:
    path = lineage_store_path(s.root)
    if not path.is_file():
        return False, f"no lineage store at {path}"
    count = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a truncated last line is tolerated
            count += isinstance(event, dict) and "eventType" in event
    if count:
        return True, f"{count} OpenLineage event(s) in {path}"
    return False, f"{path} holds no OpenLineage events"


@probe("model_served", "a model was served by the local platform")
def _served(s: PlatformSnapshot) -> tuple[bool, str]:
    served = sorted(name for name in s.services if name.startswith("serve:"))
    if served:
        return True, f"served model(s) recorded in state.json: {', '.join(served)}"
    folder = s.root / "serving"
    models = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if models:
        return True, f"serving data for model(s): {', '.join(models)}"
    return False, "no served model in state.json and nothing under serving/"


@probe("request_logs", "a served model logged its requests")
def _requests(s: PlatformSnapshot) -> tuple[bool, str]:
    logs = [p for p in (s.root / "serving").glob("*/requests-*.jsonl") if p.stat().st_size > 0]
    if logs:
        return True, f"{len(logs)} request log(s), e.g. {logs[0].relative_to(s.root)}"
    return False, "no request log (serving/<model>/requests-*.jsonl)"


@probe("drift_reports", "a drift report was produced for a served model")
def _drift(s: PlatformSnapshot) -> tuple[bool, str]:
    reports = [p for p in (s.root / "monitoring").glob("*/*") if p.is_file()]
    if reports:
        return True, f"{len(reports)} drift monitoring file(s), e.g. {reports[0].relative_to(s.root)}"
    return False, "no drift report under monitoring/<model>/"


@probe("alert_rules", "alert rules are shipped and drift monitoring feeds them")
def _alerts(s: PlatformSnapshot) -> tuple[bool, str]:
    from iml4e.paths import manifests_dir

    rules = manifests_dir() / ALERT_RULES
    if not rules.is_file():
        return False, f"no alert rules at manifests/{ALERT_RULES}"
    fed, why = _drift(s)
    if not fed and not (s.workdir / CONFIG_FILE).is_file():
        return False, f"alert rules are shipped but nothing feeds them ({why})"
    return True, f"alert rules shipped at manifests/{ALERT_RULES}" + (
        f"; {why}" if fed else "; cluster configured"
    )


@probe("feature_store_used", "a feature store repository exists under the state directory")
def _feature_store(s: PlatformSnapshot) -> tuple[bool, str]:
    for depth in ("*/feature_store.yaml", "*/*/feature_store.yaml"):
        found = sorted(s.root.glob(depth))
        if found:
            return True, f"feature store configured at {found[0].relative_to(s.root)}"
    return False, "no feature_store.yaml under the state directory"


@probe("cluster_configured", "the platform is described in an iml4e.yaml configuration")
def _cluster(s: PlatformSnapshot) -> tuple[bool, str]:
    configured = os.environ.get("IML4E_CONFIG")
    path = Path(configured) if configured else s.workdir / CONFIG_FILE
    if not path.is_file():
        return False, f"no platform configuration ({path} does not exist)"
    try:
        from iml4e.installer.config import load_config
    except ImportError:
        return True, f"platform configuration {path} found"
    try:
        config = load_config(path)
    except Exception as exc:  # an invalid file is not evidence; say why
        return False, f"platform configuration {path} is invalid ({exc})"
    return True, f"platform configuration {path} found (profile {config.profile})"


@probe("assessment_saved", "a maturity assessment was saved earlier")
def _assessment(s: PlatformSnapshot) -> tuple[bool, str]:
    path = s.root / "assessment" / "answers.yaml"
    if path.is_file() and path.stat().st_size > 0:
        return True, f"saved assessment answers at {path}"
    return False, "no saved assessment (run 'iml4e assess')"
