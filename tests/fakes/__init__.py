"""In-repo fakes of HTTP APIs that cannot run here (Grafana, Mimir), enforcing their documented
behaviour so that the deploy targets are tested against the rules, not against our assumptions."""
