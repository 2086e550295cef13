"""A real Prometheus server (Debian's package) scrapes `madvise-lab export` and answers with the kernel's LazyFree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse

import pytest

from export_support import die_with_us, free_port, get, start_export, stop_export, wait_for, within
from kernel_truth import read_smaps_rollup

PROMETHEUS = "/usr/bin/prometheus"
pytestmark = pytest.mark.skipif(not os.access(PROMETHEUS, os.X_OK),
                                reason=f"{PROMETHEUS} missing: apt-get install prometheus (.ci/run installs it)")

SCRAPE_CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: madvise-lab
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


def _query(api_port: int, promql: str) -> list[dict]:
    """The instant vector Prometheus answers for `promql` ([] until it has scraped)."""
    url = f"http://127.0.0.1:{api_port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    answer = json.loads(get(url)[1])
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_prometheus_scrapes_the_exporter_and_answers_with_procs_lazyfree(child, tmp_path):
    export_port, api_port = free_port(), free_port()
    exporter = start_export(str(child.pid), "--name", "child", "--listen", f"127.0.0.1:{export_port}",
                            "--interval", "200ms")
    (tmp_path / "prometheus.yml").write_text(SCRAPE_CONFIG.format(port=export_port))
    with open(tmp_path / "prometheus.log", "wb") as log:
        prometheus = subprocess.Popen(
            [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--web.listen-address=127.0.0.1:{api_port}",
             f"--storage.tsdb.path={tmp_path / 'data'}"],
            stdout=subprocess.DEVNULL, stderr=log, preexec_fn=die_with_us)
    try:
        result = wait_for(lambda: _query(api_port, f'madvise_lazyfree_bytes{{pid="{child.pid}"}}'),
                          "Prometheus to have scraped madvise_lazyfree_bytes", timeout_s=60, interval_s=0.5)
        truth = read_smaps_rollup(child.pid)
        (series,) = result
        assert series["metric"]["workload"] == "child" and series["metric"]["job"] == "madvise-lab"
        answered = float(series["value"][1])
        assert truth.lazyfree_bytes > 0
        assert within(answered, truth.lazyfree_bytes), f"Prometheus says {answered:.0f}, /proc {truth.lazyfree_bytes}"
        # the README's footprint query, through PromQL's own arithmetic
        (footprint,) = _query(api_port, f'madvise_rss_bytes{{pid="{child.pid}"}} - madvise_lazyfree_bytes')
        assert within(float(footprint["value"][1]), truth.footprint_bytes)
        (up,) = _query(api_port, f'up{{job="madvise-lab"}}')
        assert up["value"][1] == "1"
    except AssertionError:
        print((tmp_path / "prometheus.log").read_text(errors="replace")[-3000:])
        raise
    finally:
        prometheus.terminate()
        try:
            prometheus.wait(timeout=15)
        except subprocess.TimeoutExpired:
            prometheus.kill()
            prometheus.wait()
        code, err = stop_export(exporter)
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
    assert code == 0, err
