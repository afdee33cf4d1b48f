"""The cluster target: render, check, install, upgrade and uninstall iml4e on any Kubernetes cluster.

Modules, by what they do:
    versions      the one version matrix (every image tag and upstream release)
    config        `PlatformConfig`, read from iml4e.yaml
    compose       kustomize-style composition of our bases and overlays (in Python, no binary)
    render        the objects a profile installs, with their install stage
    upstream      the upstream lock: download, cache, verify, bundle for air-gapped installs
    credentials   random credentials generated at install time, stored as Secrets
    cluster       the Kubernetes API seen by the installer (real client and its protocol)
    doctor        pre-flight checks with pass/warn/fail and the fix
    install       staged server-side apply with bounded waits, resume and dry run
    lifecycle     status, upgrade plan, uninstall
    access        port-forward to a service (`iml4e open`)
    kind_cluster  create/delete a kind cluster
    requests      CPU and memory requests summed from rendered manifests
    cluster_runs  compile a pipeline and run it on the installed Kubeflow Pipelines
    cluster_rollout  a KServe InferenceService's canary: status, promote, roll back (+ MLflow aliases)
"""
