"""Golden files of the rendered manifests, one per profile (and one with a drift monitor), volatile fields masked.

    make golden                                               # rewrite tests/golden_files/manifests/*.yaml
    PYTHONPATH=tests python -m golden_files.render_manifests  # compare; exit 1 and name the files that differ

Masked: generated Secret values (random at install), the iml4e image tag (follows the package
version and IML4E_COMPONENT_IMAGE). Files another part of iml4e writes into the monitoring base
(dashboards/*.json, alert-rules.yaml) are left out, so adding a dashboard does not make these files stale;
tests/unit/iml4e/installer/test_render.py checks that they are picked up.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iml4e.installer.compose import Object
from iml4e.installer.config import PROFILES, PlatformConfig, parse_config
from iml4e.installer.credentials import plan_secrets
from iml4e.installer.render import dump_objects, render_platform
from iml4e.installer.versions import iml4e_image

GOLDEN_DIR = Path(__file__).resolve().parent / "manifests"
MASK = "<masked>"
_HELPER_WRITTEN = {"iml4e-grafana-dashboards": "dashboards/", "iml4e-prometheus-rules": "alert-rules.yaml"}


def _mask(obj: Object, helper_files: set[str]) -> Object:
    if obj.get("kind") == "Secret":
        obj["data"] = {key: MASK for key in obj.get("data", {})}
    if obj.get("kind") == "ConfigMap" and obj["metadata"]["name"] in _HELPER_WRITTEN:
        obj["data"] = {key: value for key, value in obj.get("data", {}).items() if key not in helper_files}
    text = dump_objects([obj])
    if iml4e_image() in text:
        import yaml

        obj = yaml.safe_load(text.replace(iml4e_image(), "<iml4e-image>"))
    return obj


def helper_written_files(manifests: Path | None = None) -> set[str]:
    from iml4e.paths import manifests_dir

    monitoring = (manifests or manifests_dir()) / "base" / "monitoring"
    names = {path.name for path in (monitoring / "dashboards").glob("*.json")}
    if (monitoring / "alert-rules.yaml").is_file():
        names.add("alert-rules.yaml")
    return names


#: Golden file name -> the config rendered into it: each profile's defaults, and the standard
#: profile with the drift monitor (rendered only when models are configured).
CASES: dict[str, PlatformConfig] = {
    **{profile: PlatformConfig(profile=profile) for profile in PROFILES},
    "standard-drift-monitor": parse_config(
        {
            "monitoring": {
                "drift": {
                    "models": [{"name": "churn-classifier", "reference": "s3://iml4e/reference/churn.csv"}]
                }
            }
        },
        "golden case standard-drift-monitor",
    ),
}


def golden_text(case: str, manifests: Path | None = None) -> str:
    config = CASES[case]
    profile = config.profile
    rendering = render_platform(config, manifests)
    secrets = plan_secrets(config, lambda namespace, name: None)
    helper_files = helper_written_files(manifests)
    masked = [_mask(obj, helper_files) for obj in secrets + rendering.objects]
    what = f"profile '{profile}'" if case == profile else f"'{case}' (profile {profile})"
    header = f"# Golden rendering of {what}. Regenerate: make golden\n"
    return header + dump_objects(masked)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--update", action="store_true", help="rewrite the golden files")
    args = parser.parse_args(argv)
    from iml4e import console
    from iml4e_components.output_files import write_text_atomically

    differing = []
    for case in CASES:
        path = GOLDEN_DIR / f"{case}.yaml"
        text = golden_text(case)
        if args.update:
            write_text_atomically(path, text, create_parent=True)
            console.info(f"wrote {path}")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            differing.append(str(path))
    if differing:
        console.error(f"golden files differ: {', '.join(differing)}; review, then run with --update")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
