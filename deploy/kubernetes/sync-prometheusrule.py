#!/usr/bin/env python3
"""Write base/prometheusrule.yaml from deploy/prometheus/watchdog-alerts.yaml.

The alert rules have one source, the plain Prometheus rules file (promtool checks and tests it;
the compose playground mounts it). Kubernetes' Prometheus Operator wants the same groups wrapped
in a PrometheusRule object, which kustomize cannot build from a file, so this script does, and
tests/deploy/test_kubernetes.py fails when the two differ.

    python deploy/kubernetes/sync-prometheusrule.py           # rewrite the PrometheusRule
    python deploy/kubernetes/sync-prometheusrule.py --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE.parent / "prometheus" / "watchdog-alerts.yaml"
TARGET = HERE / "base" / "prometheusrule.yaml"

HEADER = """\
# GENERATED from deploy/prometheus/watchdog-alerts.yaml by deploy/kubernetes/sync-prometheusrule.py:
# edit the rules file and run the script; tests/deploy/test_kubernetes.py fails when they differ.
# Your Prometheus selects PrometheusRules by label: add the one it expects in kustomization.yaml.
"""


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render() -> str:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    rule: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "connect-watchdog"},
        "spec": {"groups": groups},
    }
    return HEADER + yaml.dump(rule, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the PrometheusRule is out of date")
    args = parser.parse_args(argv)
    text = render()
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    if args.check:
        if current != text:
            print(f"{TARGET} differs from {RULES}: run python deploy/kubernetes/sync-prometheusrule.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        TARGET.write_text(text, encoding="utf-8")
        print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
