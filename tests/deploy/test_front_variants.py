"""The Traefik v3 variant (docker/compose.traefik.yaml + docker/traefik/dynamic.yaml) keeps what
the Caddy front does: TLS 1.3 minimum, HTTP→HTTPS, the same route to the web processes, the same
response headers. No Traefik build is obtainable here, so its configuration is checked, not run:
`docker-compose config` accepts the override, the dynamic file passes a JSON schema of the Traefik
v3 file-provider keys it uses (written from Traefik's documentation; unknown keys are refused),
and it is compared with what Caddy itself makes of docker/Caddyfile (`caddy adapt`)."""

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # drf-spectacular brings it; no stubs
import pytest
import yaml

from tests.conftest import ROOT
from tests.deploy.dockerstack import ensure_engine, ensure_stand_in, run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
DOCKER = ROOT / "docker"
DOMAIN = "chat.example.org"

_STRINGS = {"type": "array", "items": {"type": "string"}}
TRAEFIK_DYNAMIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "tls": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "options": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "minVersion": {"enum": ["VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13"]},
                            "maxVersion": {"enum": ["VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13"]},
                            "sniStrict": {"type": "boolean"},
                            "cipherSuites": _STRINGS,
                            "curvePreferences": _STRINGS,
                            "alpnProtocols": _STRINGS,
                        },
                    },
                }
            },
        },
        "http": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "routers": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["rule", "service"],
                        "properties": {
                            "rule": {"type": "string"},
                            "entryPoints": _STRINGS,
                            "middlewares": _STRINGS,
                            "service": {"type": "string"},
                            "priority": {"type": "integer"},
                            "tls": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {"certResolver": {"type": "string"}, "options": {"type": "string"}},
                            },
                        },
                    },
                },
                "middlewares": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "headers": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "stsSeconds": {"type": "integer"},
                                    "stsIncludeSubdomains": {"type": "boolean"},
                                    "stsPreload": {"type": "boolean"},
                                    "contentTypeNosniff": {"type": "boolean"},
                                    "frameDeny": {"type": "boolean"},
                                    "referrerPolicy": {"type": "string"},
                                    "permissionsPolicy": {"type": "string"},
                                    "customResponseHeaders": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                    },
                                },
                            }
                        },
                    },
                },
                "services": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "loadBalancer": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["servers"],
                                "properties": {
                                    "passHostHeader": {"type": "boolean"},
                                    "servers": {
                                        "type": "array",
                                        "minItems": 1,
                                        "items": {
                                            "type": "object",
                                            "additionalProperties": False,
                                            "required": ["url"],
                                            "properties": {"url": {"type": "string"}},
                                        },
                                    },
                                    "healthCheck": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "properties": {
                                            k: {"type": "string"}
                                            for k in ("path", "interval", "timeout", "hostname", "scheme", "method")
                                        },
                                    },
                                },
                            }
                        },
                    },
                },
            },
        },
    },
}


def traefik_dynamic() -> dict[str, Any]:
    """docker/traefik/dynamic.yaml as Traefik reads it: Go templates rendered (env only)."""
    text = (DOCKER / "traefik" / "dynamic.yaml").read_text()
    text = text.replace('{{ env "TALKEE_DOMAIN" }}', DOMAIN)
    assert "{{" not in text, "a template function the test does not render"
    return dict(yaml.safe_load(text))


def caddy_adapted() -> dict[str, Any]:
    ensure_engine()
    caddy = ensure_stand_in("caddy")
    adapted = run(
        [
            "docker",
            "run",
            "--rm",
            "-e",
            f"TALKEE_DOMAIN={DOMAIN}",
            "-e",
            "CADDY_TLS=",
            "-v",
            f"{DOCKER / 'Caddyfile'}:/etc/caddy/Caddyfile:ro",
            caddy,
            "caddy",
            "adapt",
            "--config",
            "/etc/caddy/Caddyfile",
        ]
    )
    return dict(json.loads(adapted.stdout))


def compose_config(tmp: Path, *files: str) -> dict[str, Any]:
    """`docker-compose config` with docker/.env.example, its empty secrets filled in."""
    env_file = tmp / "example.env"
    secrets = ("SECRET_KEY", "POSTGRES_PASSWORD", "TALKEE_TURN_SECRET", "TALKEE_JANUS_ADMIN_SECRET")
    lines = [f"{line}0123456789abcdef" if line.split("=")[0] in secrets else line
             for line in (DOCKER / ".env.example").read_text().splitlines()]  # fmt: skip
    env_file.write_text("\n".join(lines))
    args = ["docker-compose", "--env-file", str(env_file)]
    for name in files:
        args += ["-f", str(DOCKER / name)]
    return dict(yaml.safe_load(run([*args, "config"], cwd=DOCKER).stdout))


def test_compose_accepts_the_traefik_override_and_only_the_front_changes(tmp_path: Path) -> None:
    ensure_engine()  # docker-compose itself
    caddy = compose_config(tmp_path, "compose.yaml")
    traefik = compose_config(tmp_path, "compose.yaml", "compose.traefik.yaml")
    assert set(caddy["services"]) == set(traefik["services"])
    assert traefik["services"]["front"]["image"].startswith("traefik:v3")
    for name, service in caddy["services"].items():
        if name != "front":
            other = traefik["services"][name]
            assert sorted(other.pop("volumes", [])) == sorted(service.pop("volumes", [])), name
            assert other == service, name
    front = traefik["services"]["front"]
    assert front["ports"] == caddy["services"]["front"]["ports"]  # 80 and 443 as before
    flags = front["command"]
    assert "--entrypoints.web.http.redirections.entrypoint.scheme=https" in flags
    assert "--providers.file.filename=/etc/traefik/dynamic.yaml" in flags
    assert any(v.endswith(":/etc/traefik/dynamic.yaml:ro") for v in front["volumes"])


def test_traefik_keeps_tls13_minimum_the_same_route_and_headers_as_caddy() -> None:
    dynamic = traefik_dynamic()
    jsonschema.validate(dynamic, TRAEFIK_DYNAMIC_SCHEMA)
    adapted = caddy_adapted()

    # TLS 1.3 minimum on both.
    server = adapted["apps"]["http"]["servers"]["srv0"]
    policies = [p for p in server["tls_connection_policies"] if p.get("match")]
    assert [p["protocol_min"] for p in policies] == ["tls1.3"]
    assert dynamic["tls"]["options"]["default"]["minVersion"] == "VersionTLS13"
    (router,) = dynamic["http"]["routers"].values()
    assert router["tls"]["options"] == "default" and router["entryPoints"] == ["websecure"]

    # The same host, everything on it to the web processes on 8000.
    (route,) = server["routes"]
    assert route["match"] == [{"host": [DOMAIN]}]
    assert router["rule"] == f"Host(`{DOMAIN}`)"
    handlers = route["handle"][0]["routes"][0]["handle"]
    proxy = next(h for h in handlers if h["handler"] == "reverse_proxy")
    assert (proxy["dynamic_upstreams"]["name"], proxy["dynamic_upstreams"]["port"]) == ("web", "8000")
    service = dynamic["http"]["services"][router["service"]]["loadBalancer"]
    assert [s["url"] for s in service["servers"]] == ["http://web:8000"]

    # The same response headers.
    caddy_headers = next(h for h in handlers if h["handler"] == "headers")["response"]
    assert caddy_headers["delete"] == ["Server"]
    caddy_set = {k: v[0] for k, v in caddy_headers["set"].items()}
    (middleware,) = (dynamic["http"]["middlewares"][m]["headers"] for m in router["middlewares"])
    traefik_set = {
        "Strict-Transport-Security": f"max-age={middleware['stsSeconds']}"
        + ("; includeSubDomains" if middleware["stsIncludeSubdomains"] else ""),
        "X-Content-Type-Options": "nosniff" if middleware["contentTypeNosniff"] else "",
        "X-Frame-Options": "DENY" if middleware["frameDeny"] else "",
        "Referrer-Policy": middleware["referrerPolicy"],
        "Permissions-Policy": middleware["permissionsPolicy"],
        **{k: v for k, v in middleware["customResponseHeaders"].items() if v},
    }
    assert traefik_set == caddy_set
    assert middleware["customResponseHeaders"]["Server"] == ""  # Traefik: empty value removes it


def test_the_env_example_documents_every_variable_the_compose_files_use() -> None:
    import re

    used: set[str] = set()
    for name in ("compose.yaml", "compose.traefik.yaml"):
        used |= set(re.findall(r"\$\{([A-Z0-9_]+)", (DOCKER / name).read_text()))
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (DOCKER / ".env.example").read_text(), re.MULTILINE))
    assert used - documented == set()
    assert documented - used == set()


def test_caddyfile_and_turnserver_conf_say_what_the_issue_asks(tmp_path: Path) -> None:
    caddyfile = (DOCKER / "Caddyfile").read_text()
    assert "protocols tls1.3" in caddyfile
    conf = (DOCKER / "turnserver.conf").read_text().splitlines()
    assert "use-auth-secret" in conf and "tls-listening-port=5349" in conf
    for private in ("10.0.0.0-10.255.255.255", "127.0.0.0-127.255.255.255", "169.254.0.0-169.254.255.255",
                    "172.16.0.0-172.31.255.255", "192.168.0.0-192.168.255.255", "::1",
                    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"):  # fmt: skip
        assert f"denied-peer-ip={private}" in conf, private
    assert not any(line.startswith("allowed-peer-ip") for line in conf)
