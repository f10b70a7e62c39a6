"""deploy/: what a team copies agrees with itself and with the server (no Docker or cluster here; the files are read).

deploy/haproxy.cfg itself runs in tests/test_scale_out.py; here it is also checked by `haproxy -c`.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from dodo_mcp.config import GRACE_ENV, STATELESS_ENV
from dodo_mcp.health import HEALTH_PATH, READY_PATH
from tests.conftest import need_part
from tests.haproxy_cluster import haproxy_binary

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
HAPROXY_VARIABLES = sorted(set(re.findall(r"\$\{(\w+)\}", (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8"))))


def kubernetes() -> dict[str, Any]:
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "dodo-mcp.yaml").read_text(encoding="utf-8")))
    return {document["kind"]: document for document in documents}


def test_the_haproxy_config_names_its_addresses_by_environment_and_is_valid() -> None:
    assert HAPROXY_VARIABLES == [
        "DODO_MCP_LB_BIND",
        "DODO_MCP_LB_STATS_SOCKET",
        "DODO_MCP_REPLICA_1",
        "DODO_MCP_REPLICA_2",
        "DODO_MCP_REPLICA_3",
    ]
    haproxy = haproxy_binary()
    need_part("HAProxy", haproxy is not None, "apt-get install haproxy")
    assert haproxy is not None
    env = {**os.environ, **{name: "127.0.0.1:1" for name in HAPROXY_VARIABLES}, "DODO_MCP_LB_STATS_SOCKET": "/tmp/x"}
    checked = subprocess.run(
        [haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg")], env=env, capture_output=True, text=True
    )
    assert (checked.returncode, checked.stdout.strip()) == (0, "Configuration file is valid"), checked.stderr


def test_docker_compose_runs_the_haproxy_config_before_three_draining_replicas() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    haproxy = services["haproxy"]
    assert haproxy["volumes"] == ["./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]
    assert sorted(haproxy["environment"]) == HAPROXY_VARIABLES
    replicas = [haproxy["environment"][f"DODO_MCP_REPLICA_{n}"] for n in (1, 2, 3)]
    assert replicas == ["dodo-mcp-1:8000", "dodo-mcp-2:8000", "dodo-mcp-3:8000"]
    for name in ("dodo-mcp-1", "dodo-mcp-2", "dodo-mcp-3"):
        replica = services[name]
        assert replica["environment"][STATELESS_ENV] == "1"
        grace_s = float(replica["environment"][GRACE_ENV])
        assert float(replica["stop_grace_period"].removesuffix("s")) > grace_s


def test_the_kubernetes_deployment_probes_drains_and_outlasts_its_grace_period() -> None:
    manifests = kubernetes()
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env[STATELESS_ENV] == "1"
    assert (container["livenessProbe"]["httpGet"]["path"], container["readinessProbe"]["httpGet"]["path"]) == (
        HEALTH_PATH,
        READY_PATH,
    )
    # dodo-mcp checks the Host header: the probes send one it always allows.
    for probe in (container["livenessProbe"], container["readinessProbe"]):
        assert probe["httpGet"]["httpHeaders"] == [{"name": "Host", "value": "localhost"}]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > float(command[1]) + float(env[GRACE_ENV] or 0)
    service = manifests["Service"]["spec"]
    assert service["selector"] == manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["ports"][0]["targetPort"] == container["ports"][0]["name"]
    assert manifests["Deployment"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
