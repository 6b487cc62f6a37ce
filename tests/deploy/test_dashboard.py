"""The chart's Grafana dashboard and the autoscaler's adapter rule against a real Triton scraped by a real Prometheus
(Debian's): every metric their PromQL names is one Triton exports, and every query answers with numbers once
requests have been served."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager

import numpy as np
import promql_parser
import pytest
import yaml

from tests.deploy.chart import CHART, adapter_rules, manifests
from tests.support.ports import free_port
from tests.support.tones import tone_clip
from triton_speech import defaults
from triton_speech.client import ASRClient
from triton_speech.client.asr import chunked

pytestmark = pytest.mark.server

DASHBOARD = json.loads((CHART / "dashboards" / "triton-speech.json").read_text())
# Labels Prometheus adds to the series of a pod it scrapes (a ServiceMonitor or the pod annotations do the same).
POD_LABELS = {"namespace": "speech", "pod": "speech-triton-speech-triton-5d8f7c9b6-x2x4k"}
SCRAPE_S = 1
RATE_WINDOW = "1m"  # Grafana's $__rate_interval over an hour at a 15 s scrape interval


def variable(name: str) -> dict:
    return next(v for v in DASHBOARD["templating"]["list"] if v["name"] == name)


def substituted(expr: str) -> str:
    """A dashboard query as Grafana sends it for this namespace, every pod, and the default chunk length."""
    values = {"__rate_interval": RATE_WINDOW, "namespace": POD_LABELS["namespace"], "pod": ".*",
              "stream_chunk_seconds": variable("stream_chunk_seconds")["query"]}
    return re.sub(r"\$(\w+)", lambda m: values[m.group(1)], expr)


def panel_queries() -> list[tuple[str, str]]:
    return [(panel["title"], substituted(target["expr"])) for panel in DASHBOARD["panels"]
            for target in panel["targets"]]


def variable_selectors() -> list[str]:
    """The series selectors of the dashboard's label_values() variables."""
    selectors = []
    for var in DASHBOARD["templating"]["list"]:
        if var["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["query"]["query"])
            assert match, var["query"]
            selectors.append(substituted(match.group(1)))
    return selectors


def adapter_query(rule: dict) -> str:
    """The adapter rule's query as the adapter sends it for one pod of the namespace."""
    matchers = ",".join(f'{key}="{value}"' for key, value in POD_LABELS.items())
    return rule["metricsQuery"].replace("<<.LabelMatchers>>", matchers).replace("<<.GroupBy>>", "pod")


def selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """(metric name, its equality label matchers) of every series selector in a PromQL expression."""
    found = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            equal = {m.name: m.value for m in node.matchers.matchers if str(m.op) == "MatchOp.Equal"}
            found.append((node.name, equal))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def all_queries() -> list[str]:
    [rule] = adapter_rules(manifests("gpu"))
    return [expr for _, expr in panel_queries()] + variable_selectors() + [adapter_query(rule), rule["seriesQuery"]]


def test_the_query_parser_finds_names_and_refuses_nonsense():
    assert selectors('sum by (model) (rate(a_total{model="x", pod=~".*"}[1m])) / b') == [("a_total", {"model": "x"}),
                                                                                       ("b", {})]
    with pytest.raises(ValueError):
        selectors("sum(rate(a_total[1m])")


def test_the_dashboard_streams_at_the_clients_default_chunk_length():
    assert float(variable("stream_chunk_seconds")["query"]) == defaults.STREAM_CHUNK_MS / 1000


def test_the_dashboard_shows_requests_queue_compute_rtfx_and_replicas():
    titles = " ".join(panel["title"] for panel in DASHBOARD["panels"]).lower()
    for word in ("requests", "queue time", "compute time", "rtfx", "replicas"):
        assert word in titles
    used = {name for expr in all_queries() for name, _ in selectors(expr)}
    assert {"nv_inference_request_success", "nv_inference_queue_duration_us",
            "nv_inference_compute_infer_duration_us"} <= used


def test_panels_fit_grafanas_grid_without_overlap():
    cells = set()
    for panel in DASHBOARD["panels"]:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(box["x"], box["x"] + box["w"]) for y in range(box["y"], box["y"] + box["h"])}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
    assert len({panel["id"] for panel in DASHBOARD["panels"]}) == len(DASHBOARD["panels"])


class Prometheus:
    def __init__(self, url: str):
        self.url = url
        self.at: float | None = None  # queries are evaluated at this time (default: now)

    def get(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr: str) -> list[tuple[dict, float]]:
        data = self.get("/api/v1/query", query=expr, **({"time": self.at} if self.at else {}))
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(series["metric"], float(series["value"][1])) for series in data["result"]]


@contextmanager
def prometheus_scraping(target: str, folder) -> Prometheus:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: install Debian's prometheus package (make setup does)")
    config = {"global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": f"{SCRAPE_S}s"},
              "scrape_configs": [{"job_name": "triton", "static_configs": [{"targets": [target],
                                                                           "labels": POD_LABELS}]}]}
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(folder / "prometheus.log", "wb")
    process = subprocess.Popen([binary, f"--config.file={folder / 'prometheus.yml'}",
                                f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while not _scraped(server):
            assert process.poll() is None, (folder / "prometheus.log").read_text()
            assert time.monotonic() < deadline, "Prometheus never scraped Triton"
            time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _scraped(server: Prometheus) -> bool:
    try:
        return any(value == 1 for _, value in server.query('up{job="triton"}'))
    except OSError:
        return False


def totals(metrics_url: str) -> dict[str, float]:
    """Each metric's sum over its series (all models), read from Triton's metrics port itself."""
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    sums: dict[str, float] = {}
    for name, value in re.findall(r"^([a-z_:]+)(?:\{[^}]*\})? (\S+)$", text, flags=re.M):
        sums[name] = sums.get(name, 0.0) + float(value)
    return sums


@pytest.fixture(scope="module")
def scraped(tone_triton, tmp_path_factory):
    """Prometheus scraping the tone server every second, after a few seconds of offline and streaming requests;
    ``served`` holds the growth of Triton's own counters over those requests."""
    target = tone_triton.metrics_url.removeprefix("http://").removesuffix("/metrics")
    with prometheus_scraping(target, tmp_path_factory.mktemp("prometheus")) as server:
        before = totals(tone_triton.metrics_url)
        client = ASRClient(tone_triton.grpc_url)
        audio = tone_clip(6, 3)[0]
        deadline = time.monotonic() + 10 * SCRAPE_S
        while time.monotonic() < deadline:
            client.recognize(audio[: 16000 * 2], timestamps=False)
            answers = list(client.stream(chunked(audio, defaults.STREAM_CHUNK_MS)))
            assert answers[-1].final
        after = totals(tone_triton.metrics_url)
        server.served = {name: after[name] - before.get(name, 0.0) for name in after}
        time.sleep(3 * SCRAPE_S)  # the last requests' counters scraped
        server.at = time.time()  # however long the tests take, they look at the window of these requests
        yield server


def test_every_metric_the_dashboard_and_the_autoscaler_use_is_one_triton_exports(scraped):
    exported = set(scraped.get("/api/v1/label/__name__/values", **{"match[]": '{job="triton"}'}))
    assert "nv_inference_request_success" in exported
    models = set(scraped.get("/api/v1/label/model/values", **{"match[]": '{job="triton"}'}))
    assert {"asr_streaming", "asr"} <= models
    for expr in all_queries():
        for name, matchers in selectors(expr):
            assert name in exported, f"{name} (in {expr}) is not a metric Triton exports"
            if "model" in matchers:
                assert matchers["model"] in models, f"no model {matchers['model']} in Triton's metrics"


def test_every_dashboard_query_answers_with_numbers(scraped):
    for title, expr in panel_queries():
        answer = scraped.query(expr)
        finite = [value for _, value in answer if math.isfinite(value)]
        assert finite, f"{title}: {expr} gave no number ({answer})"
        assert all(value >= 0 for value in finite), (title, answer)


def test_the_dashboard_counts_one_replica_and_streamed_audio(scraped):
    replicas = next(expr for title, expr in panel_queries() if title == "Replicas")
    assert scraped.query(replicas) == [({}, 1.0)]
    rtfx = [expr for title, expr in panel_queries() if "RTFx" in title]
    for expr in rtfx:
        [(_, value)] = scraped.query(expr)
        assert value > 0, expr


def test_grafana_variables_find_the_namespace_and_the_pod(scraped):
    namespace_selector, pod_selector = variable_selectors()
    assert POD_LABELS["namespace"] in scraped.get("/api/v1/label/namespace/values", **{"match[]": namespace_selector})
    assert POD_LABELS["pod"] in scraped.get("/api/v1/label/pod/values", **{"match[]": pod_selector})


def test_the_autoscaler_metric_is_the_pods_queue_time_per_request(scraped):
    """The adapter's query for the pod: one series for it, whose value is the queue time per successful request
    that Triton's own counters give over the requests served (all of them within the rule's rate window). The
    tolerance is rate()'s extrapolation to the window's start, which differs between two counters sampled together
    by up to a scrape interval over the seconds sampled (at least 10: 1 s / 10 s; a busy machine delays scrapes, and
    half an interval measured 8% over 8 s there)."""
    [rule] = adapter_rules(manifests("gpu"))
    [(labels, value)] = scraped.query(adapter_query(rule))
    assert labels == {"pod": POD_LABELS["pod"]}
    served = scraped.served
    assert served["nv_inference_request_success"] > 0 and served["nv_inference_queue_duration_us"] > 0
    expected = served["nv_inference_queue_duration_us"] / served["nv_inference_request_success"]
    assert np.isclose(value, expected, rtol=0.1), (value, expected)
