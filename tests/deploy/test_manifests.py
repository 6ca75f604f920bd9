"""The Kubernetes manifests (deploy/k8s), rendered, hold the invariants a deployment relies on.

Rendered with `kubectl kustomize` when it is installed, and always with the small renderer in
kustomize_lite.py (checked to give the same objects as kubectl where both exist), so the
invariants are checked on every machine. Each check returns its violations; the tests at the
bottom break a rendered copy on purpose and expect the check to say so.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.kustomize_lite import UnsupportedKustomization, render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
KUBECTL = shutil.which("kubectl")
SECRET_NAME = re.compile(r"SECRET|TOKEN|KEY|PASSWORD")
URL_WITH_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")
SHARED_STORES = ("TRACKER_STORE_URL", "LOCK_STORE_URL")
RASA_NEEDS = (*SHARED_STORES, "CASE_STORE_URL", "CHANNEL_STATE_DATABASE_URL", "AGENT_CONSOLE_DATABASE_URL", "RASA_TOKEN")

Doc = dict[str, Any]


def kubectl_render(directory: Path) -> list[Doc]:
    out = subprocess.run([KUBECTL or "kubectl", "kustomize", str(directory)], capture_output=True, text=True,
                         check=True, timeout=120)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


RENDERERS: dict[str, Callable[[Path], list[Doc]]] = {"lite": render, "kubectl": kubectl_render}
_RENDERED: dict[tuple[str, Path], list[Doc]] = {}


def rendered(how: str, overlay: Path) -> list[Doc]:
    """Render once per session (kubectl takes a while); every caller gets its own copy."""
    if (how, overlay) not in _RENDERED:
        _RENDERED[how, overlay] = RENDERERS[how](overlay)
    return copy.deepcopy(_RENDERED[how, overlay])


@pytest.fixture(params=["lite", "kubectl"])
def renderer(request: pytest.FixtureRequest) -> Callable[[Path], list[Doc]]:
    if request.param == "kubectl" and not KUBECTL:
        pytest.skip("kubectl is not installed; the lite renderer covers the invariants")
    return lambda overlay: rendered(request.param, overlay)


# ---- reading rendered objects -------------------------------------------------------------

def pod_specs(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    """(workload, pod spec) for every Deployment and CronJob."""
    for d in docs:
        if d["kind"] == "Deployment":
            yield d, d["spec"]["template"]["spec"]
        elif d["kind"] == "CronJob":
            yield d, d["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def containers(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    for workload, spec in pod_specs(docs):
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            yield workload, c


def command_line(c: Doc) -> str:
    return " ".join(str(part) for part in [*c.get("command", []), *c.get("args", [])])


def is_rasa_server(c: Doc) -> bool:
    words = command_line(c).split()
    return "rasa" in words and "run" in words and "actions" not in words


def rasa_deployments(docs: list[Doc]) -> list[tuple[Doc, Doc]]:
    return [(w, c) for w, c in containers(docs) if w["kind"] == "Deployment" and is_rasa_server(c)]


def config_maps(docs: list[Doc]) -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}


def effective_env(docs: list[Doc], c: Doc) -> dict[str, Doc]:
    """Every variable the container gets: envFrom ConfigMaps first, `env` entries override."""
    maps = config_maps(docs)
    out: dict[str, Doc] = {}
    for source in c.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            for k, v in maps.get(ref["name"], {}).items():
                out[k] = {"name": k, "value": v, "from_config_map": ref["name"]}
    for e in c.get("env", []):
        out[e["name"]] = e
    return out


# ---- invariants: each returns the list of violations ----------------------------------------

def check_rasa_stores(docs: list[Doc]) -> list[str]:
    """Every Rasa server gets the shared tracker store and lock store (and the other shared
    databases), each from one Secret key that all Rasa Deployments share."""
    problems: list[str] = []
    rasas = rasa_deployments(docs)
    if not rasas:
        return ["no Rasa server Deployment found"]
    sources: dict[str, set[tuple[str, str]]] = {}
    for w, c in rasas:
        env = effective_env(docs, c)
        for name in RASA_NEEDS:
            if name not in env:
                problems.append(f"{w['metadata']['name']}/{c['name']}: {name} is missing")
        for name in SHARED_STORES:
            ref = (env.get(name, {}).get("valueFrom") or {}).get("secretKeyRef")
            if not ref:
                problems.append(f"{w['metadata']['name']}/{c['name']}: {name} must come from a secretKeyRef (it holds a password)")
                continue
            sources.setdefault(name, set()).add((ref["name"], ref["key"]))
    for name, refs in sources.items():
        if len(refs) > 1:
            problems.append(f"{name} comes from different sources across Rasa Deployments: {sorted(refs)}")
    return problems


def check_probes(docs: list[Doc]) -> list[str]:
    return [f"{w['metadata']['name']}/{c['name']}: a container with a port needs {probe}"
            for w, c in containers(docs) if c.get("ports")
            for probe in ("readinessProbe", "livenessProbe") if not c.get(probe)]


def check_no_plain_secrets(docs: list[Doc]) -> list[str]:
    problems = []
    for w, c in containers(docs):
        where = f"{w['metadata']['name']}/{c['name']}"
        for e in c.get("env", []):
            plain = "value" in e or not (e.get("valueFrom") or {}).get("secretKeyRef")
            if SECRET_NAME.search(e["name"]) and plain:
                problems.append(f"{where}: {e['name']} must be valueFrom.secretKeyRef, not a value")
            if URL_WITH_PASSWORD.search(str(e.get("value", ""))):
                problems.append(f"{where}: {e['name']} has a password in a plain URL")
        if URL_WITH_PASSWORD.search(command_line(c)):
            problems.append(f"{where}: a password in a plain URL on the command line")
    for name, data in config_maps(docs).items():
        for k, v in data.items():
            if SECRET_NAME.search(k):
                problems.append(f"ConfigMap {name}: {k} is a secret; use the Secret")
            if URL_WITH_PASSWORD.search(str(v)):
                problems.append(f"ConfigMap {name}: {k} has a password in a plain URL")
    for d in docs:
        if d["kind"] == "Secret" and (d.get("data") or d.get("stringData")):
            problems.append(f"Secret {d['metadata']['name']} with values is part of the rendered manifests")
    return problems


def check_resources(docs: list[Doc]) -> list[str]:
    problems = []
    for w, c in containers(docs):
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for what in ("cpu", "memory"):
                if not (res.get(kind) or {}).get(what):
                    problems.append(f"{w['metadata']['name']}/{c['name']}: resources.{kind}.{what} is missing")
    return problems


def check_images(docs: list[Doc]) -> list[str]:
    problems = []
    for w, c in containers(docs):
        image = str(c.get("image", ""))
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if not tag or tag == "latest":
            problems.append(f"{w['metadata']['name']}/{c['name']}: image {image!r} needs a pinned tag, not latest or none")
    return problems


def check_never_trains(docs: list[Doc]) -> list[str]:
    return [f"{w['metadata']['name']}/{c['name']}: trains at start ({command_line(c)!r})"
            for w, c in containers(docs)
            if re.search(r"\brasa\s+train\b|\blauncher\s+(train|run)\b", command_line(c))]


def check_production(docs: list[Doc]) -> list[str]:
    problems = []
    for w, _ in rasa_deployments(docs):
        if (w["spec"].get("replicas") or 1) < 2:
            problems.append(f"{w['metadata']['name']}: production runs at least 2 Rasa replicas")
    for w, c in containers(docs):
        env = effective_env(docs, c)
        if env.get("BEKH_ENV", {}).get("value") != "production":
            problems.append(f"{w['metadata']['name']}/{c['name']}: BEKH_ENV is not production")
        if is_rasa_server(c) and env.get("REST_CHANNEL_ENABLED", {}).get("value") != "false":
            problems.append(f"{w['metadata']['name']}/{c['name']}: the REST channel must be off in production")
    return problems


def check_single_notifier(docs: list[Doc]) -> list[str]:
    """Until the notifier holds a lease, two would send every update twice: one replica, and
    Recreate so that a rollout never overlaps the old and new pod."""
    problems = []
    for w, c in containers(docs):
        if "channels.notifier" in command_line(c):
            if w["kind"] != "Deployment" or w["spec"].get("replicas", 1) != 1:
                problems.append(f"{w['metadata']['name']}: the notifier must run as one replica")
            if (w["spec"].get("strategy") or {}).get("type") != "Recreate":
                problems.append(f"{w['metadata']['name']}: the notifier needs strategy Recreate")
    return problems


COMMON_CHECKS = [check_rasa_stores, check_probes, check_no_plain_secrets, check_resources, check_images,
                 check_never_trains, check_single_notifier]


# ---- the manifests as shipped -------------------------------------------------------------

@pytest.mark.parametrize("check", COMMON_CHECKS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("overlay", [BASE, PRODUCTION], ids=["base", "production"])
def test_invariant_holds(renderer: Callable[[Path], list[Doc]], overlay: Path, check: Callable[[list[Doc]], list[str]]) -> None:
    assert check(renderer(overlay)) == []


def test_production_settings(renderer: Callable[[Path], list[Doc]]) -> None:
    assert check_production(renderer(PRODUCTION)) == []


def test_every_process_is_deployed(renderer: Callable[[Path], list[Doc]]) -> None:
    docs = renderer(PRODUCTION)
    commands = [command_line(c) for _, c in containers(docs)]
    for needle in ("rasa run --model", "actions.server --actions actions", "case_store serve", "channels.notifier", "insights serve"):
        assert any(needle in cmd for cmd in commands), needle
    services = {d["metadata"]["name"]: d["spec"]["ports"][0]["port"] for d in docs if d["kind"] == "Service"}
    assert services == {"rasa": 5005, "actions": 5055, "case-store": 8800, "insights": 8900}


def test_actions_ready_only_with_the_case_store_reachable(renderer: Callable[[Path], list[Doc]]) -> None:
    """Readiness is actions/server.py's /ready (the case store answers); liveness stays /health,
    so an outage of the case store takes the action server out of rotation without restarts."""
    (container,) = [c for w, c in containers(renderer(PRODUCTION)) if w["metadata"]["name"] == "actions"]
    assert "actions.server" in command_line(container)
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"


def test_in_cluster_urls_point_at_the_services(renderer: Callable[[Path], list[Doc]]) -> None:
    docs = renderer(PRODUCTION)
    config = config_maps(docs)["bekh-config"]
    services = {d["metadata"]["name"]: d["spec"]["ports"][0]["port"] for d in docs if d["kind"] == "Service"}
    for var, service in (("RASA_URL", "rasa"), ("ACTION_SERVER_URL", "actions"), ("CASE_STORE_URL", "case-store")):
        assert config[var].startswith(f"http://{service}:{services[service]}"), var


def test_rasa_ready_only_with_a_loaded_model(renderer: Callable[[Path], list[Doc]]) -> None:
    """`GET /` answers even when the model failed to load; readiness must ask /status, with the
    token from the environment (never written in the manifest)."""
    for _, c in rasa_deployments(renderer(PRODUCTION)):
        probe = " ".join(c["readinessProbe"]["exec"]["command"])
        assert "/status?token=" in probe and "os.environ['RASA_TOKEN']" in probe
        assert "models/bekh.tar.gz" in command_line(c)


def test_the_rasa_token_is_one_argument_whatever_it_starts_with(renderer: Callable[[Path], list[Doc]]) -> None:
    """A generated token may start with "-" (secrets.token_urlsafe): after a separate
    `--auth-token` argparse takes it for an option and Rasa exits (about one token in 64; seen in a CI rehearsal)."""
    import shlex

    from rasa.__main__ import create_argument_parser

    for _, c in rasa_deployments(renderer(PRODUCTION)):
        line = command_line(c)
        assert '--auth-token="$RASA_TOKEN"' in line, line
        run = line[line.index("rasa run"):].replace("$RASA_TOKEN", "-Ab3_token").replace("$BEKH_VAR_DIR", "/tmp/x")
        args = create_argument_parser().parse_args(shlex.split(run)[1:])
        assert args.auth_token == "-Ab3_token"


def test_lite_renderer_matches_kubectl() -> None:
    if not KUBECTL:
        pytest.skip("kubectl is not installed")
    for overlay in (BASE, PRODUCTION):
        def keyed(docs: list[Doc]) -> dict[tuple[str, str, str], Doc]:
            return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}
        assert keyed(rendered("lite", overlay)) == keyed(rendered("kubectl", overlay))


def test_lite_renderer_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nconfigMapGenerator: []\n")
    with pytest.raises(UnsupportedKustomization, match="configMapGenerator"):
        render(tmp_path)


def test_secret_example_is_complete_and_not_deployed() -> None:
    example = BASE / "secret.example.yaml"
    secret = yaml.safe_load(example.read_text())
    for directory in (BASE, PRODUCTION):
        listed = yaml.safe_load((directory / "kustomization.yaml").read_text()).get("resources", [])
        assert "secret.example.yaml" not in listed
    referenced = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for _, c in containers(rendered("lite", PRODUCTION)) for e in c.get("env", [])
        if (e.get("valueFrom") or {}).get("secretKeyRef")
    }
    assert referenced == set(secret["stringData"])
    assert all("REPLACE_" in v for v in secret["stringData"].values()), "placeholders only"


# ---- each check can fail: break a rendered copy on purpose ---------------------------------

def _container(docs: list[Doc], name: str) -> Doc:
    return next(c for _, c in containers(docs) if c["name"] == name)


def _deployment(docs: list[Doc], name: str) -> Doc:
    return next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)


def _drop_env(docs: list[Doc], container: str, var: str) -> None:
    c = _container(docs, container)
    c["env"] = [e for e in c["env"] if e["name"] != var]


def _second_rasa_with_other_lock_store(docs: list[Doc]) -> None:
    twin = copy.deepcopy(_deployment(docs, "rasa"))
    twin["metadata"]["name"] = "rasa-voice"
    for e in twin["spec"]["template"]["spec"]["containers"][0]["env"]:
        if e["name"] == "LOCK_STORE_URL":
            e["valueFrom"]["secretKeyRef"]["key"] = "other-lock-store-url"
    docs.append(twin)


def _plain_token(docs: list[Doc]) -> None:
    c = _container(docs, "rasa")
    c["env"] = [e if e["name"] != "RASA_TOKEN" else {"name": "RASA_TOKEN", "value": "s3cret"} for e in c["env"]]


def _plain_db_url(docs: list[Doc]) -> None:
    config_maps(docs)["bekh-config"]["TRACKER_STORE_URL"] = "postgresql://rasa:hunter2@db:5432/rasa"


def _secret_with_values(docs: list[Doc]) -> None:
    docs.append({"kind": "Secret", "metadata": {"name": "bekh-secrets"}, "stringData": {"rasa-token": "x"}})


def _set(path: list[Any], value: Any) -> Callable[[list[Doc]], None]:
    def mutate(docs: list[Doc]) -> None:
        node: Any = docs
        for step in path[:-1]:
            node = step(node) if callable(step) else node[step]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return mutate


_DELETE = object()
_rasa = lambda docs: _container(docs, "rasa")  # noqa: E731 - a path step
_actions = lambda docs: _container(docs, "actions")  # noqa: E731
_case_store = lambda docs: _container(docs, "case-store")  # noqa: E731
_notifier_dep = lambda docs: _deployment(docs, "notifier")  # noqa: E731
_rasa_dep = lambda docs: _deployment(docs, "rasa")  # noqa: E731

BREAKAGES: list[tuple[str, Callable[[list[Doc]], list[str]], Callable[[list[Doc]], None]]] = [
    ("rasa without lock store", check_rasa_stores, lambda d: _drop_env(d, "rasa", "LOCK_STORE_URL")),
    ("rasa without tracker store", check_rasa_stores, lambda d: _drop_env(d, "rasa", "TRACKER_STORE_URL")),
    ("rasa without channel state", check_rasa_stores, lambda d: _drop_env(d, "rasa", "CHANNEL_STATE_DATABASE_URL")),
    ("two rasas, two lock stores", check_rasa_stores, _second_rasa_with_other_lock_store),
    ("rasa without readiness", check_probes, _set([_rasa, "readinessProbe"], _DELETE)),
    ("actions without liveness", check_probes, _set([_actions, "livenessProbe"], _DELETE)),
    ("case store without readiness", check_probes, _set([_case_store, "readinessProbe"], _DELETE)),
    ("token as a plain value", check_no_plain_secrets, _plain_token),
    ("password in a ConfigMap URL", check_no_plain_secrets, _plain_db_url),
    ("a Secret with values rendered", check_no_plain_secrets, _secret_with_values),
    ("no memory limit", check_resources, _set([_actions, "resources", "limits", "memory"], _DELETE)),
    ("no requests", check_resources, _set([_rasa, "resources", "requests"], _DELETE)),
    ("latest image", check_images, _set([_case_store, "image"], "registry.example.jo/bekh/gateway:latest")),
    ("untagged image", check_images, _set([_case_store, "image"], "registry.example.jo:5000/bekh/gateway")),
    ("rasa trains at start", check_never_trains,
     _set([_rasa, "command"], ["sh", "-c", "rasa train && rasa run --model models"])),
    ("one rasa replica", check_production, _set([_rasa_dep, "spec", "replicas"], 1)),
    ("dev mode", check_production, lambda d: config_maps(d)["bekh-config"].update(BEKH_ENV="dev")),
    ("REST channel on", check_production, lambda d: config_maps(d)["bekh-config"].update(REST_CHANNEL_ENABLED="true")),
    ("two notifiers", check_single_notifier, _set([_notifier_dep, "spec", "replicas"], 2)),
    ("notifier rolling update", check_single_notifier, _set([_notifier_dep, "spec", "strategy"], {"type": "RollingUpdate"})),
]


@pytest.mark.parametrize(("what", "check", "breakage"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_check_catches(what: str, check: Callable[[list[Doc]], list[str]], breakage: Callable[[list[Doc]], None]) -> None:
    docs = rendered("lite", PRODUCTION)
    assert check(docs) == [], f"the shipped manifests must pass before breaking them ({what})"
    broken = copy.deepcopy(docs)
    breakage(broken)
    assert check(broken) != [], what
