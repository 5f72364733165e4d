"""The daemon's watch on the configs folder (reconciler.daemon.watch), as a real process:
a folder removed and re-created, or a configs symlink swapped to another folder, is watched
again; a symlink to ``/`` inside the folder is not followed and does not stall anything."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from reconciler.daemon.watch import watched_dirs
from tests.fixtures_daemon import (
    DaemonProc,
    SinkProc,
    StartDaemon,
    atomic_write,
    custom_org,
    wait_for,
    write_configs,
)


def _edit_applies(d: DaemonProc, configs: Path, port: int, text: str, timeout: float) -> float:
    t0 = time.monotonic()
    atomic_write(configs / "orgs" / "globex.yaml", custom_org("globex", port, text))
    wait_for(f"globex {text!r} applied", lambda: d.display_name("org/globex") == text, timeout)
    return time.monotonic() - t0


def test_configs_folder_removed_and_recreated_is_watched_again(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon
) -> None:
    configs = write_configs(tmp_path, sink.port)
    d = start_daemon(configs)
    shutil.rmtree(configs)
    time.sleep(0.3)  # a moment without the folder, as a redeploy has
    write_configs(tmp_path, sink.port)
    d.wait_event("watch.rearmed")
    _edit_applies(d, configs, sink.port, "After re-create", timeout=6)
    assert d.proc.poll() is None


def test_configs_symlink_swapped_to_another_folder_is_watched_again(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon
) -> None:
    old, new = write_configs(tmp_path / "v1", sink.port), write_configs(tmp_path / "v2", sink.port)
    link = tmp_path / "current"
    link.symlink_to(old)
    d = start_daemon(link)
    atomic_write(new / "orgs" / "globex.yaml", custom_org("globex", sink.port, "From v2"))
    swap = tmp_path / "current.new"
    swap.symlink_to(new)
    os.replace(swap, link)  # how deploy tools switch releases: one atomic rename
    wait_for("v2 applied", lambda: d.display_name("org/globex") == "From v2", timeout=6)
    _edit_applies(d, new, sink.port, "Edited in v2", timeout=6)
    atomic_write(old / "orgs" / "globex.yaml", custom_org("globex", sink.port, "Old release"))
    time.sleep(1.0)
    assert d.display_name("org/globex") == "Edited in v2"  # the old folder is no longer watched


def test_symlink_to_root_inside_configs_is_not_followed(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon
) -> None:
    configs = write_configs(tmp_path, sink.port)
    (configs / "orgs" / "everything").symlink_to("/")
    (configs / "loop").symlink_to(configs)
    assert watched_dirs(configs) == [str(configs), str(configs / "orgs")]
    d = start_daemon(configs)
    for i in range(3):
        assert d.get("/healthz")[0] == 200
        took = _edit_applies(d, configs, sink.port, f"Edit {i}", timeout=3)
        assert took < 3
    # the watch never tried to walk the machine (it used to fail in /proc and restart)
    assert d.events("watch.failed") == []


def test_a_new_subfolder_is_watched(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon
) -> None:
    """Folders are watched one by one now: one made after the start must join the watch."""
    configs = write_configs(tmp_path, sink.port)
    d = start_daemon(configs)
    team = configs / "orgs" / "team"
    team.mkdir()
    atomic_write(team / "newco.yaml", custom_org("newco", sink.port, "New"))
    wait_for("newco applied", lambda: d.display_name("org/newco") == "New", timeout=6)
    deep = team / "eu"
    deep.mkdir()
    time.sleep(0.5)  # the watch re-arms on the new folder
    atomic_write(deep / "euco.yaml", custom_org("euco", sink.port, "EU"))
    wait_for("euco applied", lambda: d.display_name("org/euco") == "EU", timeout=6)
    atomic_write(deep / "euco.yaml", custom_org("euco", sink.port, "EU edited"))
    wait_for("euco edit applied", lambda: d.display_name("org/euco") == "EU edited", timeout=6)
