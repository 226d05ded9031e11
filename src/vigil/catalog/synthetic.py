"""Synthetic catalogs for benchmarks and scale tests: N services, departments, SLOs, dependencies.

`write_catalog(path, n, mix="spine")` gives the issue's scale catalog (http + jvm + host, one SLO
each); `mix="mixed"` rotates through every built-in profile, as a real estate would.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

DEPARTMENTS = 12
MIXES: dict[str, list[list[Any]]] = {
    "spine": [["http", "jvm", {"name": "host", "prefix": "host_"}]],
    "mixed": [
        ["spring-http", "jvm"],
        ["http", "jvm", {"name": "host", "prefix": "host_"}],
        ["redis"],
        ["rabbitmq"],
        ["postgres"],
        ["kafka"],
        ["spring-http", "jvm", "circuit-breaker"],
        ["host"],
    ],
}


def departments_doc(n_departments: int = DEPARTMENTS) -> dict:
    depts = [
        {
            "id": f"team-{i:02d}",
            "name": f"Team {i}",
            "role": "engineering",
            "channels": {
                "page": {"webhook": {"url": f"http://127.0.0.1:9/page/team-{i:02d}"}},
                "chat": {"webhook": {"url": f"http://127.0.0.1:9/chat/team-{i:02d}"}},
            },
        }
        for i in range(n_departments)
    ]
    depts += [
        {
            "id": "business",
            "role": "business",
            "channels": {"chat": {"email": {"to": "biz@example.com"}}},
            "active_hours": "office-hours",
        },
        {"id": "cs", "role": "support", "channels": {"chat": {"webhook": {"url": "http://127.0.0.1:9/cs"}}}},
        {
            "id": "operations",
            "role": "operations",
            "channels": {"chat": {"webhook": {"url": "http://127.0.0.1:9/ops"}}},
        },
    ]
    return {
        "defaults": {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"},
        "time_intervals": {"office-hours": {"weekdays": ["monday:friday"], "times": ["09:00-18:00"]}},
        "departments": depts,
        "propagation": [
            {"notify": "owner", "severity": "critical", "channel": "page"},
            {"notify": "owner", "severity": "warning", "channel": "chat"},
            {
                "notify": ["business", "cs"],
                "severity": "critical",
                "channel": "chat",
                "when": {"customer_facing": True},
            },
        ],
    }


def service_doc(i: int, n: int, mix: str) -> dict:
    profiles = MIXES[mix][i % len(MIXES[mix])]
    names = [p if isinstance(p, str) else p["name"] for p in profiles]
    doc: dict = {
        "name": f"svc-{i:05d}",
        "description": f"Synthetic service {i}",
        "owner": f"team-{i % DEPARTMENTS:02d}",
        "tier": 1 + i % 3,
        "customer_facing": i % 2 == 0,
        "selector": {"job": f"svc-{i:05d}"},
        "profiles": profiles,
        "dependencies": [f"svc-{(i + 1) % n:05d}"] if n > 1 else [],
    }
    if "http" in names or "spring-http" in names:
        doc["slos"] = [{"name": "availability", "objective": "99.9%"}]
        # A per-service override, as real catalogs have.
        doc["metrics"] = {"error_ratio": {"warning": "1%", "critical": f"{3 + i % 5}%"}}
    return doc


def write_catalog(root: Path, n: int, mix: str = "spine") -> Path:
    (root / "services").mkdir(parents=True, exist_ok=True)
    (root / "vigil.yaml").write_text(
        yaml.safe_dump({"grafana_url": "http://grafana.example.com", "extra_labels": {"cluster": "synthetic"}})
    )
    (root / "departments.yaml").write_text(yaml.safe_dump(departments_doc(), sort_keys=False))
    for i in range(n):
        doc = service_doc(i, n, mix)
        (root / "services" / f"{doc['name']}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path", type=Path)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--mix", choices=sorted(MIXES), default="spine")
    args = ap.parse_args()
    write_catalog(args.path, args.n, args.mix)
    print(f"wrote {args.n} services to {args.path}")
