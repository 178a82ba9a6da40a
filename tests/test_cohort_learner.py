"""The learner's side: `lab join`, checks that reach the collector in the background (never
slowing or failing the check), `lab status` showing what waits, and offline hand-ins."""

from __future__ import annotations

import json
import os
import shutil
import stat
import time

import pytest

from labkit import catalog, emulator, session
from labkit.backends import free_port
from labkit.cohort import analysis, learner
from labkit.cohort.harness import Server, make_cohort
from labkit.cohort.store import CohortStore
from labkit.progress import ProgressStore
from tests.conftest import run_lab
from tests.labtools import start

LAB = "sns-fanout"


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    home = tmp_path_factory.mktemp("cohort-collector")
    store, token = make_cohort(home, learners=["Ada", "Alan"])
    with Server(home, engine=None) as server:
        yield server, CohortStore(store.folder)


@pytest.fixture
def joined_home(lab_home):
    """A learner's LAB_HOME (with its own emulator); the cohort state is removed afterwards."""
    yield lab_home
    learner.stop_sender()
    shutil.rmtree(lab_home.home / "cohort", ignore_errors=True)
    if learner.after_check in session.AFTER_CHECK:
        session.AFTER_CHECK.remove(learner.after_check)


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


@pytest.mark.parametrize("engine", ["ministack"], indirect=True)
def test_after_join_every_check_reaches_the_collector(joined_home, collector):
    server, store = collector
    ada = store.learners()[0]
    joined = run_lab("join", server.url, "--token", ada.token, "--local")
    assert joined.returncode == 0, joined.stderr
    assert "Joined cohort workshop as Ada" in joined.stdout
    assert stat.S_IMODE(os.stat(learner.membership_path()).st_mode) == 0o600
    assert run_lab("start", LAB).returncode == 0
    before = store.submission_count()
    checked = run_lab("check", "--json")
    assert checked.returncode == 1  # the learner's own verdict is untouched
    wait_for(lambda: store.submission_count() > before)
    view = analysis.build(store.snapshot(), {LAB: catalog.get(LAB)})
    ada_row = next(row for row in view["learners"] if row["account"] == ada.account_id)
    assert ada_row["labs"][LAB]["tasks"]["deploy-initial-resources"]["status"] == "pass"
    assert ada_row["labs"][LAB]["tasks"]["create-topic"]["status"] == "fail"
    status = run_lab("status")
    assert "Cohort: workshop as Ada" in status.stdout and "nothing pending" in status.stdout
    status_json = json.loads(run_lab("status", "--json").stdout)
    assert status_json["cohort"]["pending"] == 0 and status_json["labs"][0]["lab"] == LAB


@pytest.mark.parametrize("engine", ["ministack"], indirect=True)
def test_a_collector_that_is_away_never_slows_or_fails_a_check(joined_home, collector):
    server, store = collector
    alan = store.learners()[1]
    port = free_port()  # nothing listens here yet
    learner._save_membership(learner.Membership(alan.token, alan.account_id, f"http://127.0.0.1:{port}",
                                                store.cohort_id, "workshop", "Alan", False, "test01"))
    start(LAB, joined_home)
    session.AFTER_CHECK.append(learner.after_check)
    started = time.perf_counter()
    report = session.check_lab(LAB)
    with_observer = time.perf_counter() - started
    session.AFTER_CHECK.remove(learner.after_check)
    started = time.perf_counter()
    learner.after_check(report, ProgressStore())
    observer = time.perf_counter() - started
    assert observer < 0.25, f"queueing a submission took {observer:.3f} s"
    assert report.total == 7 and with_observer < report.wall_seconds + 0.5
    assert learner.outbox_counts()[0] == 1  # the same check queued twice is one submission (its nonce)
    wait_for(lambda: learner.outbox_counts()[2])  # the sender has tried, and failed
    status = run_lab("status")
    assert status.returncode == 0
    assert "1 pending" in status.stdout and "unreachable" in status.stdout, status.stdout

    late = Server(server.home, engine=None)  # the collector comes back, on the address the learner has
    late.port, late.url = port, f"http://127.0.0.1:{port}"
    server.stop()
    try:
        with late:
            wait_for(lambda: learner.outbox_counts()[0] == 0, timeout=30)
            assert "nothing pending" in run_lab("status").stdout
    finally:
        server.start()


@pytest.mark.parametrize("engine", ["ministack"], indirect=True)
def test_a_refused_submission_is_reported_not_retried_forever(joined_home, collector):
    server, store = collector
    alan = store.learners()[1]
    wrong = alan.account_id + ".not-alans-secret-at-all-xxxxxx"
    learner._save_membership(learner.Membership(wrong, alan.account_id, server.url, store.cohort_id, "workshop",
                                                "Alan", False, "test02"))
    start(LAB, joined_home)
    session.AFTER_CHECK.append(learner.after_check)
    session.check_lab(LAB)
    wait_for(lambda: learner.outbox_counts()[1] == 1)
    status = run_lab("status")
    assert "1 rejected" in status.stdout and "signature does not match" in status.stdout


@pytest.mark.parametrize("engine", ["ministack"], indirect=True)
def test_offline_handin_is_signed_and_imports_once(joined_home, collector, tmp_path):
    server, store = collector
    ada = store.learners()[0]
    assert run_lab("handin").returncode == 2  # not joined: nothing to sign with
    offline = run_lab("join", "--token", ada.token)
    assert offline.returncode == 0 and "offline" in offline.stdout
    start(LAB, joined_home)
    session.solve_lab(LAB)
    session.check_lab(LAB)
    run_lab("hint", "--lab", LAB)
    written = run_lab("handin", "--out", str(tmp_path))
    assert written.returncode == 0, written.stderr
    path = next(tmp_path.glob("handin-*.json"))
    document = json.loads(path.read_text())
    assert document["learner"] == ada.account_id
    assert any("ride_service.py" in s["payload"]["files"] for s in document["submissions"])

    imported = run_lab("cohort", "import", str(path), env={"LAB_HOME": str(server.home)})
    assert imported.returncode == 0, imported.stderr
    assert "Ada" in imported.stdout and "already stored" in imported.stdout
    again = run_lab("cohort", "import", str(path), env={"LAB_HOME": str(server.home)})
    assert again.returncode == 0 and " 0 new" in again.stdout
    assert store.learner_files(ada.account_id, LAB)["ride_service.py"].startswith('"""')

    document["submissions"][0]["payload"]["report"]["tasks"][0]["message"] = "edited"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    refused = run_lab("cohort", "import", str(edited), env={"LAB_HOME": str(server.home)})
    assert refused.returncode == 2 and "was not imported" in refused.stderr and "Traceback" not in refused.stderr


def test_join_on_a_shared_emulator_points_lab_at_it_as_the_learners_account(empty_home, tmp_path_factory):
    home = tmp_path_factory.mktemp("cohort-shared-join")
    store, _ = make_cohort(home, learners=["Ada"])
    ada = CohortStore(store.folder).learners()[0]
    try:
        with Server(home, engine="ministack") as server:
            joined = run_lab("join", server.url, "--token", ada.token)
            assert joined.returncode == 0, joined.stderr
            state = emulator.current_state()
            assert (state.backend, state.url, state.access_key) == ("external", server.url, ada.account_id)
            assert f"AWS_ACCESS_KEY_ID={ada.account_id}" in run_lab("env").stdout
            started = run_lab("start", LAB)
            assert started.returncode == 0, started.stderr
            checked = run_lab("check", "--json")
            assert json.loads(checked.stdout)["tasks"][0]["status"] == "pass"  # the stack, in Ada's account
            left = run_lab("leave")
            assert left.returncode == 0 and emulator.current_state() is None
    finally:
        learner.stop_sender()


@pytest.mark.parametrize("engine", ["ministack"], indirect=True)
def test_join_refuses_to_silently_leave_a_local_emulator_behind(joined_home, tmp_path_factory):
    home = tmp_path_factory.mktemp("cohort-shared-refuse")
    store, _ = make_cohort(home, learners=["Ada"])
    ada = CohortStore(store.folder).learners()[0]
    with Server(home, engine="ministack") as server:
        refused = run_lab("join", server.url, "--token", ada.token)
        assert refused.returncode == 2 and "lab stop" in refused.stderr and "--local" in refused.stderr
        assert not learner.membership_path().exists()


@pytest.mark.parametrize("token, code, phrase", [
    ("not-a-token", 2, "not a learner token"),
    ("123456789012.abcdefghijklmnopqrstuvwx", 2, "does not accept this token"),
])
def test_join_with_a_bad_token_says_so(empty_home, collector, token, code, phrase):
    server, _ = collector
    result = run_lab("join", server.url, "--token", token)
    assert result.returncode == code and phrase in result.stderr and "Traceback" not in result.stderr


def test_join_to_nothing_exits_3_with_the_fix(empty_home):
    result = run_lab("join", f"http://127.0.0.1:{free_port()}", "--token", "123456789012.abcdefghijklmnopqrstuvwx")
    assert result.returncode == 3 and "Nothing answers" in result.stderr
