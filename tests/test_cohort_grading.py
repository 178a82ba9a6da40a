"""`lab cohort setup` and `lab cohort check` on a shared emulator: every account graded at once,
each against its own resources, with handed-in learner code run in that learner's account."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from labkit import catalog
from labkit.aws import ClientFactory, Endpoint
from labkit.checks import CheckContext
from labkit.cohort import analysis, grader, protocol
from labkit.cohort.harness import Server, check_payload, make_cohort, submit
from labkit.cohort.store import CohortStore
from labkit.home import REPO_ROOT

LAB = "sns-fanout"
SOLUTION = (REPO_ROOT / "labs" / LAB / "solution" / "ride_service.py").read_text()


def learner_context(server, learner, backend) -> CheckContext:
    factory = ClientFactory(Endpoint(server.url, access_key=learner.account_id))
    return CheckContext(catalog.get(LAB), factory, server.home / "unused", backend)


@pytest.fixture(scope="module", params=["ministack", "moto"])
def workshop(request, tmp_path_factory):
    """Ada solved the lab and handed in her code; Alan made the topic only; Grace did nothing."""
    engine = request.param
    home = tmp_path_factory.mktemp(f"cohort-grading-{engine}")
    store, token = make_cohort(home, learners=["Ada", "Alan", "Grace"], engine=engine)
    with Server(home, engine=engine) as server:
        store = CohortStore(store.folder)
        ada, alan, grace = store.learners()
        checker = catalog.get(LAB).checker()
        for learner in (ada, alan):  # what `lab start` does for them, through the gateway
            checker.setup_fn(learner_context(server, learner, engine))
        checker.solve_fn(learner_context(server, ada, engine))
        learner_context(server, alan, engine).client("sns").create_topic(
            Name="RideCompleted", Tags=[{"Key": "Project", "Value": "rides"}])
        lab = catalog.get(LAB)
        status, _ = submit(server.url, protocol.signed(
            check_payload(store, ada.account_id, lab, {}, files={"ride_service.py": SOLUTION}), ada.token))
        assert status == 201
        yield server, store, engine


def statuses(report: dict) -> dict[str, str]:
    return {task["id"]: task["status"] for task in report["tasks"]}


def test_every_account_is_graded_against_its_own_resources(workshop):
    server, store, engine = workshop
    ada, alan, grace = store.learners()
    result = grader.run(store, LAB, workers=2, threads=4)
    assert result.failed == {} and set(result.reports) == {ada.account_id, alan.account_id, grace.account_id}
    assert set(statuses(result.reports[ada.account_id]).values()) == {"pass"}, result.reports[ada.account_id]
    alan_result = statuses(result.reports[alan.account_id])
    assert alan_result["deploy-initial-resources"] == alan_result["create-topic"] == "pass"
    assert alan_result["notification-subscriber"] == "fail"
    # Alan never handed code in: those tasks say so instead of failing on a missing file
    alan_messages = {t["id"]: t["message"] for t in result.reports[alan.account_id]["tasks"]}
    assert alan_result["publisher"] == "error" and "not handed in" in alan_messages["publisher"]
    assert set(statuses(result.reports[grace.account_id]).values()) <= {"fail", "error"}

    labs = {LAB: catalog.get(LAB)}
    grades = {row["id"]: row["total"] for row in analysis.grades(store.snapshot(), labs, sources="central")["learners"]}
    assert grades == {ada.id: "6.5", alan.id: "1.5", grace.id: "0"}


def test_without_learner_code_those_tasks_are_errors_and_nothing_runs(workshop):
    server, store, _ = workshop
    ada = store.learners()[0]
    result = grader.run(store, LAB, accounts=[ada.account_id], learner_code=False, store_results=False)
    report = result.reports[ada.account_id]
    assert statuses(report)["publisher"] == statuses(report)["validate-fanout"] == "error"
    assert "--no-learner-code" in next(t["message"] for t in report["tasks"] if t["id"] == "publisher")
    assert statuses(report)["notification-subscriber"] == "pass"


def test_setup_then_check_through_the_cli(workshop):
    server, store, engine = workshop
    grace = store.learners()[2]
    run = lambda *args: subprocess.run([sys.executable, str(REPO_ROOT / "lab.py"), "cohort", *args],  # noqa: E731
                                       capture_output=True, text=True, env=server.env(), timeout=300)
    setup = run("setup", LAB)
    assert setup.returncode == 0, setup.stderr
    assert "Set up sns-fanout in 3/3 accounts" in setup.stdout
    checked = run("check", LAB, "--json")
    assert checked.returncode == 0, checked.stderr
    summary = json.loads(checked.stdout)[0]
    assert summary["graded"] == 3 and summary["complete"] == 1 and summary["failed"] == {}
    grid = analysis.build(store.snapshot(), {LAB: catalog.get(LAB)}, sources="central")
    grace_row = next(row for row in grid["learners"] if row["account"] == grace.account_id)
    assert grace_row["labs"][LAB]["tasks"]["deploy-initial-resources"]["status"] == "pass"


def test_check_without_a_running_server_says_how_to_start_it(tmp_path):
    store, _ = make_cohort(tmp_path, learners=1)
    result = subprocess.run([sys.executable, str(REPO_ROOT / "lab.py"), "cohort", "check"], capture_output=True,
                            text=True, env={**__import__("os").environ, "LAB_HOME": str(tmp_path)}, timeout=60)
    assert result.returncode == 3
    assert "lab cohort serve" in result.stderr and "Traceback" not in result.stderr


def test_shared_clients_sign_every_request_as_the_learner_its_thread_grades(workshop):
    """The worker shares one set of clients between learners; 300 interleaved calls from
    three learners' threads must each come back as the caller's own account."""
    import threading

    from labkit.cohort import engine
    from labkit.cohort.worker import AccountFactory, SharedClients

    server, store, _ = workshop
    url, _, allow_remote = engine.grading_endpoint(store)
    shared = SharedClients(url, allow_remote, read_timeout=20)
    wrong = []

    def caller(learner):
        sts = AccountFactory(shared, learner.account_id, read_timeout=20).client("sts")
        for _ in range(100):
            account = sts.get_caller_identity()["Account"]
            if account != learner.account_id:
                wrong.append((learner.account_id, account))

    threads = [threading.Thread(target=caller, args=(learner,)) for learner in store.learners()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []

    orphan = []  # a thread that never used a learner's client: its request must fail, not sign as anyone
    thread = threading.Thread(target=lambda: orphan.append(_try(lambda: shared.client("sts").get_caller_identity())))
    thread.start()
    thread.join()
    assert isinstance(orphan[0], RuntimeError)


def _try(call):
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - the test looks at which
        return exc
