"""The Helm chart (deploy/helm/triton-speech): helm lint, every rendered manifest valid against the Kubernetes schemas
of the oldest and newest supported versions (kubernetes-validate, strict), broken values refused, and what the
manifests must say: probes, drain and grace, the admin key only from a Secret, GPUs only on the GPU values, the
HPA's metric served by the shipped adapter rule, object-storage credentials, a gateway that is never anonymous."""

from __future__ import annotations

import json
import re

import kubernetes_validate
import pytest
import yaml

from tests.deploy.chart import (
    CHART,
    NAMESPACE,
    VALUES,
    adapter_rules,
    container,
    env_of,
    find,
    manifests,
    one,
    run_helm,
    template,
)

CHART_YAML = yaml.safe_load((CHART / "Chart.yaml").read_text())
OLDEST = re.fullmatch(r">=\s*(\d+\.\d+)\.0-0", CHART_YAML["kubeVersion"]).group(1) + ".0"
NEWEST = kubernetes_validate.latest_version()
# TritonServer.stop kills a Triton still stopping this long after its exit timeout (TRITON_GRACE_SECONDS).
LAUNCHER_KILL_MARGIN_S = 5
# What both values files render: each component's workload, Service and disruption budget, the HPA, the admin key,
# the adapter rule and the dashboard.
KINDS = {("Deployment", 2), ("Service", 2), ("PodDisruptionBudget", 2), ("HorizontalPodAutoscaler", 1),
         ("Secret", 1), ("ConfigMap", 2), ("ServiceAccount", 1)}
BOTH = pytest.mark.parametrize("values", sorted(VALUES))


@pytest.mark.parametrize("values", ["values.yaml", *sorted(VALUES)])
def test_lint_passes(values):
    result = run_helm("lint", "--strict", str(CHART), *(("-f", str(VALUES[values])) if values in VALUES else ()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@BOTH
@pytest.mark.parametrize("kube_version", [OLDEST, NEWEST])
def test_every_manifest_is_valid_kubernetes(values, kube_version):
    docs = manifests(values, kube_version=kube_version)
    assert {(kind, len(find(docs, kind))) for kind in {doc["kind"] for doc in docs}} == KINDS
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']} is not valid Kubernetes {kube_version}: "
                        f"{error.message} at {list(error.path)}")


def test_strict_validation_catches_an_unknown_field():
    """The validation above can fail: a field Kubernetes does not know is an error."""
    deployment = one(manifests("cpu"), "Deployment", "triton")
    container(deployment)["readinessProbe"]["httpGett"] = container(deployment)["readinessProbe"].pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError, match="httpGett"):
        kubernetes_validate.validate(deployment, NEWEST, strict=True)


def test_an_older_kubernetes_is_refused():
    result = template("cpu", kube_version="1.26.0", check=False)
    assert result.returncode != 0 and "kubeVersion" in result.stderr


@pytest.mark.parametrize("setting, named", [
    ("triton.target=tpu", "/triton/target"),
    ("triton.adminKey.value=not-here", "/triton/adminKey"),  # the key is never a value
    ("triton.modelRepository.url=http://bucket/models", "/triton/modelRepository/url"),
    ("triton.ports.http=0", "/triton/ports/http"),
    ("triton.graceSeconds=soon", "/triton/graceSeconds"),
    ("gateway.media.url=/var/media", "/gateway/media/url"),
    ("gateway.env.APP_ANONYMOUS=1", "/gateway"),
    ("autoscaling.rateWindow=a while", "/autoscaling/rateWindow"),
])
def test_a_broken_value_fails_lint_and_template_naming_it(setting, named):
    for result in (run_helm("lint", str(CHART), "-f", str(VALUES["cpu"]), "--set", setting),
                   template("cpu", settings=(setting,), check=False)):
        assert result.returncode != 0, setting
        assert named in result.stdout + result.stderr


def test_a_model_repository_is_required():
    result = template("cpu", settings=("triton.modelRepository.volume=null",), check=False)
    assert result.returncode != 0
    assert "triton.modelRepository: set url (s3://, gs:// or as://) or volume" in result.stderr


def test_a_volume_of_two_sources_is_refused():
    """Helm merges maps: a source given over the default claim would otherwise yield an invalid volume."""
    result = template("cpu", settings=("triton.modelRepository.volume.nfs.server=files",
                                       "triton.modelRepository.volume.nfs.path=/models"), check=False)
    assert result.returncode != 0
    assert "triton.modelRepository.volume has 2 sources (nfs, persistentVolumeClaim)" in result.stderr
    docs = manifests("cpu", settings=("triton.modelRepository.volume.nfs.server=files",
                                      "triton.modelRepository.volume.nfs.path=/models",
                                      "triton.modelRepository.volume.persistentVolumeClaim=null"))
    volume = next(v for v in one(docs, "Deployment", "triton")["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "models")
    assert volume == {"name": "models", "nfs": {"server": "files", "path": "/models"}}


def test_more_min_than_max_replicas_is_refused():
    result = template("gpu", settings=("autoscaling.minReplicas=5",), check=False)
    assert result.returncode != 0 and "must not exceed autoscaling.maxReplicas" in result.stderr


@BOTH
def test_triton_probes_ask_triton_for_readiness_and_liveness(values):
    docs = manifests(values)
    triton = container(one(docs, "Deployment", "triton"))
    http_port = int(env_of(one(docs, "Deployment", "triton"))["TRITON_HTTP_PORT"]["value"])
    ports = {port["name"]: port["containerPort"] for port in triton["ports"]}
    assert ports["http"] == http_port
    for probe, path in (("startupProbe", "/v2/health/ready"), ("readinessProbe", "/v2/health/ready"),
                        ("livenessProbe", "/v2/health/live")):
        assert triton[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    gateway = container(one(docs, "Deployment", "gateway"))
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}


@pytest.mark.parametrize("grace, drain", [(30, 10), (45, 7), (5, 0)])
def test_termination_grace_covers_the_drain_and_triton_grace(grace, drain):
    """The kubelet waits out the preStop drain, Triton's own exit timeout and the launcher's kill margin, so that
    SIGKILL never cuts a clean stop short."""
    deployment = one(manifests("cpu", settings=(f"triton.graceSeconds={grace}", f"triton.drainSeconds={drain}")),
                     "Deployment", "triton")
    assert env_of(deployment)["TRITON_GRACE_SECONDS"]["value"] == str(grace)
    assert container(deployment)["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(drain)]
    total = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert drain + grace + LAUNCHER_KILL_MARGIN_S < total <= drain + grace + 15


@BOTH
def test_the_admin_key_only_comes_from_a_secret(values):
    docs = manifests(values)
    key = env_of(one(docs, "Deployment", "triton"))["TRITON_ADMIN_KEY"]
    assert set(key) == {"name", "valueFrom"}
    reference = key["valueFrom"]["secretKeyRef"]
    secret = one(docs, "Secret")
    assert reference["name"] == secret["metadata"]["name"] and reference["key"] in secret["data"]
    assert len(secret["data"][reference["key"]]) >= 43  # 256 bits, base64 of 43 random characters
    # no other manifest names the variable (the gateway never holds the key)
    text = template(values).stdout
    assert text.count("TRITON_ADMIN_KEY") == 1


def test_an_existing_admin_key_secret_is_used_and_none_created():
    docs = manifests("gpu", settings=("triton.adminKey.existingSecret=ops-triton-key", "triton.adminKey.secretKey=k"))
    assert not find(docs, "Secret")
    reference = env_of(one(docs, "Deployment", "triton"))["TRITON_ADMIN_KEY"]["valueFrom"]["secretKeyRef"]
    assert reference == {"name": "ops-triton-key", "key": "k"}


@BOTH
@pytest.mark.parametrize("settings", [(), ("gateway.media.credentialsSecret=media", "gateway.limits.maxUploadBytes=9",
                                           "gateway.media.endpointUrl=http://minio:9000"),
                                      ("metrics.serviceMonitor.enabled=true",)])
def test_the_gateway_is_never_anonymous(values, settings):
    text = template(values, settings=settings).stdout
    assert "APP_ANONYMOUS" not in text


def test_gpus_only_on_the_gpu_values():
    gpu = one(manifests("gpu"), "Deployment", "triton")
    spec = gpu["spec"]["template"]["spec"]
    assert container(gpu)["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert "nvidia.com/gpu" not in template("cpu").stdout
    # the pip target never asks for a GPU, whatever gpus says
    assert "nvidia.com/gpu" not in template("cpu", settings=("triton.gpus=2",)).stdout
    two = one(manifests("gpu", settings=("triton.gpus=2",)), "Deployment", "triton")
    assert container(two)["resources"]["limits"]["nvidia.com/gpu"] == 2


@BOTH
def test_the_hpa_scales_triton_on_the_metric_the_adapter_rule_serves(values):
    docs = manifests(values)
    hpa = one(docs, "HorizontalPodAutoscaler")
    deployment = one(docs, "Deployment", "triton")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    [metric] = hpa["spec"]["metrics"]
    [rule] = adapter_rules(docs)
    assert metric["type"] == "Pods" and metric["pods"]["metric"]["name"] == rule["name"]["as"]
    # the rule maps the series to pods, the only objects a Pods metric asks about
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
    assert "nv_inference_queue_duration_us" in rule["seriesQuery"]
    assert re.fullmatch(rule["name"]["matches"], "nv_inference_queue_duration_us")


def test_without_autoscaling_the_deployment_keeps_its_replicas():
    docs = manifests("cpu", settings=("autoscaling.enabled=false", "triton.replicas=3"))
    assert not find(docs, "HorizontalPodAutoscaler")
    assert one(docs, "Deployment", "triton")["spec"]["replicas"] == 3


@BOTH
def test_services_select_their_pods_and_name_their_ports(values):
    docs = manifests(values)
    for component in ("triton", "gateway"):
        deployment, service = one(docs, "Deployment", component), one(docs, "Service", component)
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
        budget = one(docs, "PodDisruptionBudget", component)
        assert budget["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
        names = {port["name"] for port in container(deployment)["ports"]}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= names
    # the two components never select each other's pods
    triton, gateway = (one(docs, "Service", c)["spec"]["selector"] for c in ("triton", "gateway"))
    assert triton != gateway


def test_the_service_monitor_scrapes_the_triton_metrics_port():
    docs = manifests("gpu", settings=("metrics.serviceMonitor.enabled=true",
                                      "metrics.serviceMonitor.labels.release=kps"))
    monitor = one(docs, "ServiceMonitor")
    service = one(docs, "Service", "triton")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    # scrape annotations point at the same port
    annotations = one(docs, "Deployment", "triton")["spec"]["template"]["metadata"]["annotations"]
    metrics_port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "metrics")
    assert annotations["prometheus.io/port"] == str(metrics_port)


def test_the_dashboard_configmap_carries_the_dashboard_file():
    [dashboard] = [doc for doc in find(manifests("gpu"), "ConfigMap") if doc["metadata"]["name"].endswith("dashboard")]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(dashboard["data"]["triton-speech.json"])
    assert shipped == json.loads((CHART / "dashboards" / "triton-speech.json").read_text())


def repository_env(*settings: str) -> tuple[dict, dict, list[str]]:
    deployment = one(manifests("gpu", settings=settings), "Deployment", "triton")
    return deployment, env_of(deployment), container(deployment)["command"]


def secret_env(env: dict, prefix: str) -> dict[str, tuple[str, bool]]:
    """The variables starting with ``prefix``: name -> (Secret, optional); each must be a key of that Secret."""
    found = {}
    for name, entry in env.items():
        if name.startswith(prefix):
            assert set(entry) == {"name", "valueFrom"}, f"{name} has a value of its own"
            reference = entry["valueFrom"]["secretKeyRef"]
            assert reference["key"] == name
            found[name] = (reference["name"], reference["optional"])
    return found


AWS = {"AWS_ACCESS_KEY_ID": False, "AWS_SECRET_ACCESS_KEY": False, "AWS_SESSION_TOKEN": True,
       "AWS_DEFAULT_REGION": True}


def test_an_s3_repository_reads_its_credentials_from_a_secret():
    deployment, env, command = repository_env()
    assert command[command.index("--model-repository") + 1] == "s3://triton-speech-models/ngc"
    assert secret_env(env, "AWS_") == {name: ("triton-speech-models-s3", optional) for name, optional in AWS.items()}
    assert "models" not in {v["name"] for v in deployment["spec"]["template"]["spec"]["volumes"]}


def test_an_azure_repository_reads_its_credentials_from_a_secret():
    _, env, command = repository_env("triton.modelRepository.url=as://account/container/models",
                                     "triton.modelRepository.credentialsSecret=azure")
    assert command[command.index("--model-repository") + 1] == "as://account/container/models"
    azure = ("AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY")
    assert secret_env(env, "AZURE_") == {name: ("azure", False) for name in azure}
    assert not secret_env(env, "AWS_")


@BOTH
def test_no_secret_is_poured_whole_into_an_environment(values):
    """Only named keys of a Secret become variables: a Secret cannot slip in a setting of its own."""
    settings = ("gateway.media.credentialsSecret=media", "triton.modelRepository.credentialsSecret=models")
    assert "envFrom" not in template(values, settings=settings).stdout


def test_a_gcs_repository_mounts_its_key_file():
    deployment, env, command = repository_env("triton.modelRepository.url=gs://bucket/models",
                                              "triton.modelRepository.credentialsSecret=gcs-key")
    assert command[command.index("--model-repository") + 1] == "gs://bucket/models"
    assert not secret_env(env, "AWS_")
    mount = next(m for m in container(deployment)["volumeMounts"] if m["name"] == "gcs-credentials")
    assert mount["readOnly"] is True
    assert env["GOOGLE_APPLICATION_CREDENTIALS"]["value"] == mount["mountPath"] + "/key.json"
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "gcs-credentials")
    assert volume["secret"] == {"secretName": "gcs-key"}


def test_a_volume_repository_is_mounted_read_only():
    deployment = one(manifests("cpu"), "Deployment", "triton")
    command = container(deployment)["command"]
    mount = next(m for m in container(deployment)["volumeMounts"] if m["name"] == "models")
    assert mount["readOnly"] is True and command[command.index("--model-repository") + 1] == mount["mountPath"]
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "models")
    assert volume["persistentVolumeClaim"] == {"claimName": "triton-speech-models", "readOnly": True}
    assert not secret_env(env_of(deployment), "AWS_")


def test_the_launcher_listens_on_the_pod_address_and_shared_memory_is_large():
    deployment = one(manifests("cpu"), "Deployment", "triton")
    assert container(deployment)["command"][:3] == ["python3", "-m", "triton_speech.server"]
    assert env_of(deployment)["TRITON_ADDRESS"]["value"] == "0.0.0.0"
    shm = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container(deployment)["volumeMounts"]


def test_the_engine_cache_is_mounted_where_the_launcher_reads_it():
    deployment = one(manifests("gpu"), "Deployment", "triton")
    path = env_of(deployment)["TRITON_SPEECH_ENGINE_CACHE"]["value"]
    assert path == "/var/cache/triton-speech/trt"
    assert {"name": "engine-cache", "mountPath": path} in container(deployment)["volumeMounts"]
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "engine-cache")
    assert volume == {"name": "engine-cache", "hostPath": {"path": path, "type": "DirectoryOrCreate"}}
    cpu = one(manifests("cpu"), "Deployment", "triton")
    assert "TRITON_SPEECH_ENGINE_CACHE" not in env_of(cpu)


def test_the_gateway_talks_to_the_triton_service_and_stores_outside_the_pod():
    docs = manifests("gpu", settings=("gateway.media.credentialsSecret=media-s3",))
    gateway = one(docs, "Deployment", "gateway")
    command = container(gateway)["command"]
    triton = one(docs, "Service", "triton")
    grpc = next(p["port"] for p in triton["spec"]["ports"] if p["name"] == "grpc")
    assert command[:3] == ["python3", "-m", "triton_speech.gateway"]
    assert command[command.index("--triton-url") + 1] == f"{triton['metadata']['name']}:{grpc}"
    env = env_of(gateway)
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "triton-speech-database", "key": "url"}
    assert env["APP_MEDIA_URL"]["value"].startswith("s3://")
    assert env["APP_HOST"]["value"] == "0.0.0.0"
    assert secret_env(env, "AWS_") == {name: ("media-s3", optional) for name, optional in AWS.items()}
    assert "APP_MEDIA_DIR" not in env and "persistentVolumeClaim" not in json.dumps(gateway)


def test_the_gateway_can_be_left_out():
    docs = manifests("cpu", settings=("gateway.enabled=false",))
    assert not find(docs, "Deployment", "gateway") and not find(docs, "Service", "gateway")
    assert not find(docs, "PodDisruptionBudget", "gateway")
    assert find(docs, "Deployment", "triton")


def documented_keys(path) -> list[str]:
    """Keys of a values file with no comment above them nor above any enclosing key."""
    undocumented, stack = [], []  # stack: (indent, documented) of the enclosing keys
    previous = ""
    for line in path.read_text().splitlines():
        match = re.match(r"^(\s*)([A-Za-z_][\w.-]*):", line)
        if match:
            indent = len(match.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            documented = previous.lstrip().startswith("#") or any(doc for _, doc in stack)
            if not documented:
                undocumented.append(match.group(2))
            stack.append((indent, previous.lstrip().startswith("#")))
        if line.strip():
            previous = line
    return undocumented


def test_every_value_is_documented():
    """Each key of values.yaml has its own comment, or sits inside a commented one (a Kubernetes structure)."""
    sections = {"serviceAccount", "triton", "image", "ports", "modelRepository", "engineCache", "adminKey",
                "service", "podDisruptionBudget", "autoscaling", "metrics", "serviceMonitor", "prometheusAdapterRules",
                "grafanaDashboard", "gateway", "database", "media", "limits"}
    assert set(documented_keys(CHART / "values.yaml")) <= sections
    # every leaf of values.yaml is a key the schema knows (and so documents its type)
    schema = json.loads((CHART / "values.schema.json").read_text())

    def leaves(values, node, path):
        for key, value in values.items():
            assert key in node.get("properties", {}) or node.get("type") == "object" and "properties" not in node, \
                f"{path}{key} is not in values.schema.json"
            if isinstance(value, dict) and "properties" in node.get("properties", {}).get(key, {}):
                leaves(value, node["properties"][key], f"{path}{key}.")

    leaves(yaml.safe_load((CHART / "values.yaml").read_text()), schema, "")


def test_the_documentation_check_can_fail(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("# -- documented\na: 1\nsection:\n  # -- documented\n  b: 2\n  c: 3\n# -- whole\nk8s:\n  d: 4\n")
    assert documented_keys(values) == ["section", "c"]
