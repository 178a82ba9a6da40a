"""Cohort state without any server: roster parsing, secrets on disk, signatures, grades, hand-ins."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import textwrap
import time

import pytest

from labkit import catalog
from labkit.cohort import analysis, handins, protocol, roster, sheets
from labkit.cohort.harness import check_payload, make_cohort
from labkit.cohort.store import CohortStore
from labkit.errors import BadInput

LAB = "sns-fanout"


@pytest.fixture
def cohort(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    store, token = make_cohort(tmp_path, learners=["Ada Lovelace", "Alan Turing", "Grace Hopper"])
    return store, token


@pytest.fixture
def labs():
    return {LAB: catalog.get(LAB)}


def accept(store, labs, document, source="collector"):
    payload, signature = protocol.split_envelope(document)
    learner = store.learner(payload["learner"])
    protocol.verify(payload, signature, learner.token if learner else None)
    return store.ingest(protocol.validate(payload, signature, store.cohort_id, labs), source)


# -- roster ---------------------------------------------------------------------------------------------
def test_roster_reads_headers_semicolons_bom_and_headerless_lines():
    assert [e.id for e in roster.parse("name,email\nAda,ada@x.org\n\n# late\nAlan,alan@x.org\n")] == ["ada@x.org", "alan@x.org"]
    assert [(e.id, e.email) for e in roster.parse("\ufeffName;Email;Id\nAda;ada@x.org;s001\n")] == [("s001", "ada@x.org")]
    assert [(e.name, e.id) for e in roster.parse("Ada Lovelace,ada@x.org\nAlan,s2\n")] == [("Ada Lovelace", "ada@x.org"), ("Alan", "s2")]


@pytest.mark.parametrize("text, problem", [
    ("name,email\nAda,ada@x.org\nAda 2,ADA@x.org\n", "line 3: 'ADA@x.org' is already on line 2"),
    ("name,email\n,ada@x.org\n", "line 2: the name is empty"),
    ("name,email\nAda,not an email@\n", "line 2: 'not an email@' is not an email address"),
    ("name,phone\nAda,123\n", "needs an `email` or an `id` column"),
    ("# nobody\n\n", "has no learners"),
])
def test_roster_problems_name_the_line(text, problem):
    with pytest.raises(BadInput, match=problem.replace("(", r"\(").replace(")", r"\)").replace("`", "`")):
        roster.parse(text, "learners.csv")


# -- secrets on disk ------------------------------------------------------------------------------------------
def test_init_keeps_secrets_owner_only_and_the_facilitator_token_hashed(cohort):
    store, token = cohort
    assert stat.S_IMODE(os.stat(store.folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert token.encode() not in store.path.read_bytes()
    assert store.meta()["facilitator_token_sha256"] == protocol.token_hash(token)
    accounts = [learner.account_id for learner in store.learners()]
    assert len(set(accounts)) == 3 and all(len(a) == 12 and a.isdigit() and a[0] != "0" for a in accounts)
    rotated = store.rotate_facilitator_token()
    assert rotated != token and store.meta()["facilitator_token_sha256"] == protocol.token_hash(rotated)


def test_sheets_carry_the_export_lines_and_a_profile_and_are_private(cohort):
    store, _ = cohort
    folder = sheets.write_sheets(store, url="http://10.0.0.5:4566")
    ada = store.find_learner("learner-01")
    text = next(folder.glob(f"*{ada.account_id}.md")).read_text()
    for line in ("export AWS_ENDPOINT_URL=http://10.0.0.5:4566", f"export AWS_ACCESS_KEY_ID={ada.account_id}",
                 "export AWS_SECRET_ACCESS_KEY=test", "[profile workshop]", "endpoint_url = http://10.0.0.5:4566",
                 f"aws_access_key_id = {ada.account_id}", f"lab join http://10.0.0.5:4566 --token {ada.token}"):
        assert line in text
    assert all(stat.S_IMODE(os.stat(path).st_mode) == 0o600 for path in folder.iterdir())


def test_adding_learners_keeps_everyone_and_skips_known_ids(cohort):
    store, _ = cohort
    before = {learner.id: learner.account_id for learner in store.learners()}
    added = store.add_learners(roster.parse("name,id\nNew Person,late-01\nAgain,learner-01\n"))
    assert [learner.id for learner in added] == ["late-01"]
    after = {learner.id: learner.account_id for learner in store.learners()}
    assert {key: after[key] for key in before} == before and "late-01" in after


# -- signatures and validation ---------------------------------------------------------------------------------
def test_a_signed_submission_is_stored_once_however_often_it_is_replayed(cohort, labs):
    store, _ = cohort
    ada = store.learners()[0]
    document = protocol.signed(check_payload(store, ada.account_id, labs[LAB], {"create-topic": "pass"}), ada.token)
    assert accept(store, labs, document) is True
    version = store.version()
    assert accept(store, labs, json.loads(json.dumps(document))) is False
    assert store.version() == version and store.submission_count() == 1


@pytest.mark.parametrize("tamper, status", [
    (lambda p: p["report"]["tasks"][1].update(status="pass"), 403),  # edited after signing
    (lambda p: p.update(learner="OTHER"), 403),  # claims to be someone else
])
def test_edited_or_foreign_submissions_are_refused(cohort, labs, tamper, status):
    store, _ = cohort
    ada, alan = store.learners()[:2]
    document = protocol.signed(check_payload(store, ada.account_id, labs[LAB], {}), ada.token)
    payload = document["payload"]
    tamper(payload)
    if payload["learner"] == "OTHER":
        payload["learner"] = alan.account_id
    with pytest.raises(protocol.Rejected) as caught:
        accept(store, labs, document)
    assert caught.value.status == status
    assert store.submission_count() == 0


def test_signing_for_another_learner_with_your_own_token_is_refused(cohort, labs):
    store, _ = cohort
    ada, alan = store.learners()[:2]
    forged = protocol.signed(check_payload(store, alan.account_id, labs[LAB], {"create-topic": "pass"}), ada.token)
    with pytest.raises(protocol.Rejected, match="does not match this learner's token"):
        accept(store, labs, forged)
    assert store.submission_count() == 0


@pytest.mark.parametrize("change, message", [
    (lambda p: p["report"]["tasks"].append({"id": "made-up", "status": "pass", "message": ""}), "has no task 'made-up'"),
    (lambda p: p["report"]["tasks"][0].update(status="great"), "expected pass, fail or error"),
    (lambda p: p.update(lab="dynamodb-gsi"), "is not part of this cohort"),
    (lambda p: p.update(at="yesterday"), "not an ISO 8601 time"),
    (lambda p: p.update(files={"../../etc/passwd": "x"}), "is not one of lab sns-fanout's files"),
    (lambda p: p.update(nonce="x"), "nonce"),
    (lambda p: p.update(cohort="someone-elses"), "another cohort"),
])
def test_well_signed_but_malformed_payloads_are_refused_with_the_reason(cohort, labs, change, message):
    store, _ = cohort
    ada = store.learners()[0]
    payload = check_payload(store, ada.account_id, labs[LAB], {})
    change(payload)
    with pytest.raises(protocol.Rejected, match=message):
        accept(store, labs, protocol.signed(payload, ada.token))
    assert store.submission_count() == 0


def test_oversize_and_non_json_bodies_are_refused_before_anything_else():
    with pytest.raises(protocol.Rejected) as too_big:
        protocol.parse_json(b"{" + b" " * protocol.MAX_SUBMISSION_BYTES + b"}")
    assert too_big.value.status == 413
    for raw in (b"not json", b'{"payload": NaN}', b"\xff\xfe"):
        with pytest.raises(protocol.Rejected) as bad:
            protocol.split_envelope(protocol.parse_json(raw))
        assert bad.value.status == 400


def test_a_clock_in_the_future_cannot_claim_the_future(cohort, labs):
    store, _ = cohort
    ada = store.learners()[0]
    payload = check_payload(store, ada.account_id, labs[LAB], {"create-topic": "pass"}, at="2099-01-01T00:00:00Z")
    submission = protocol.validate(payload, protocol.sign(payload, ada.token), store.cohort_id, labs)
    assert submission.at <= time.time()


# -- state and grades --------------------------------------------------------------------------------------------
def test_best_keeps_a_pass_latest_follows_the_last_check_and_late_arrivals_do_not_overwrite(cohort, labs):
    store, _ = cohort
    ada = store.learners()[0]
    lab = labs[LAB]
    t0 = time.time() - 600
    iso = lambda offset: protocol.iso(t0 + offset)  # noqa: E731
    for at, statuses in ((iso(0), {"create-topic": "pass"}), (iso(120), {})):
        accept(store, labs, protocol.signed(check_payload(store, ada.account_id, lab, statuses, at=at), ada.token))
    # an older check arriving last (a queued submission) must not become "latest"
    accept(store, labs, protocol.signed(check_payload(store, ada.account_id, lab, {"create-topic": "pass"}, at=iso(60)),
                                        ada.token))
    best = analysis.grades(store.snapshot(), labs, policy="best")["learners"][0]
    latest = analysis.grades(store.snapshot(), labs, policy="latest")["learners"][0]
    assert best["tasks"][f"{LAB}:create-topic"] == "1" and latest["tasks"][f"{LAB}:create-topic"] == "0"
    grid = analysis.build(store.snapshot(), labs)
    cell = grid["learners"][0]["labs"][LAB]["tasks"]["create-topic"]
    assert cell["passed"] and cell["status"] == "fail" and cell["checks"] == 3


@pytest.fixture
def fractional_lab(tmp_path, monkeypatch):
    """A lab whose points are 0.1, 0.2, 0.25 and 1/3-ish: binary floats would not add up exactly."""
    root = tmp_path / "extra"
    (root / "labs" / "frac-lab").mkdir(parents=True)
    (root / "checkers").mkdir()
    (root / "labs" / "frac-lab" / "lab.yaml").write_text(textwrap.dedent("""
        id: frac-lab
        title: Fractional points
        summary: Points that floats cannot add.
        services: [sqs]
        minutes: 5
        achievement: Added points exactly
        references: [{label: x, url: "https://example.org"}]
        tasks:
          - {id: a, title: Task a, hints: [h], points: 0.1}
          - {id: b, title: Task b, hints: [h], points: 0.2}
          - {id: c, title: Task c, hints: [h], points: 0.25}
          - {id: d, title: Task d, hints: [h], points: 0.333}
    """))
    (root / "labs" / "frac-lab" / "README.md").write_text("# frac\n")
    (root / "checkers" / "frac_lab.py").write_text(textwrap.dedent("""
        from labkit.checks import Checker
        checker = Checker("frac-lab")
        for name in "abcd":
            checker.task(name)(lambda ctx: "ok")
        checker.solve(lambda ctx: None)
    """))
    monkeypatch.setenv("LAB_PATH", str(root / "labs"))
    return catalog.get("frac-lab")


def test_fractional_points_add_up_exactly_in_csv_and_json(tmp_path, monkeypatch, fractional_lab):
    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    store, _ = make_cohort(tmp_path, learners=["=cmd|' /C calc'!A0", "Plain Name"], labs=("frac-lab",), name="frac")
    labs = {"frac-lab": fractional_lab}
    first, second = store.learners()
    accept(store, labs, protocol.signed(check_payload(store, first.account_id, fractional_lab,
                                                      {"a": "pass", "b": "pass", "c": "pass", "d": "pass"}), first.token))
    accept(store, labs, protocol.signed(check_payload(store, second.account_id, fractional_lab,
                                                      {"a": "pass", "b": "pass"}), second.token))
    document = analysis.grades(store.snapshot(), labs)
    assert 0.1 + 0.2 != 0.3  # the trap
    assert [row["total"] for row in document["learners"]] == ["0.883", "0.3"]
    assert document["max_points"]["total"] == "0.883"
    rows = list(csv.DictReader(io.StringIO(analysis.grades_csv(document))))
    assert [row["total"] for row in rows] == ["0.883", "0.3"]
    assert rows[1]["frac-lab:b"] == "0.2" and rows[1]["frac-lab:c"] == "0"
    assert rows[0]["name"].startswith("'=")  # a spreadsheet will not run it as a formula


def test_item_analysis_groups_failures_that_differ_only_by_account_and_probe(cohort, labs):
    store, _ = cohort
    lab = labs[LAB]
    for learner in store.learners():
        payload = check_payload(store, learner.account_id, lab, {"create-topic": "pass"}, hints={"create-topic": 2})
        for task in payload["report"]["tasks"]:
            if task["id"] == "notification-subscriber":
                task["message"] = (f"The queue policy on customer-notification does not let arn:aws:sns:us-east-1:"
                                   f"{learner.account_id}:RideCompleted send (probe chk-{learner.account_id[:10]})")
        accept(store, labs, protocol.signed(payload, learner.token))
    items = {item["task"]: item for item in analysis.build(store.snapshot(), labs)["items"]}
    common = items["notification-subscriber"]["common_failure"]
    assert common["learners"] == 3 and "<account>" in common["message"]
    assert items["create-topic"]["learners_passed"] == 3 and items["create-topic"]["fail_rate"] == 0
    assert items["notification-subscriber"]["fail_rate"] == 1.0
    assert items["create-topic"]["hints"] == 6 and items["create-topic"]["learners_with_hints"] == 3


def test_stuck_means_started_unfinished_and_no_new_pass_for_n_minutes(cohort, labs):
    store, _ = cohort
    ada, alan, _grace = store.learners()
    lab = labs[LAB]
    long_ago = protocol.iso(time.time() - 30 * 60)
    accept(store, labs, protocol.signed(check_payload(store, ada.account_id, lab, {"create-topic": "pass"},
                                                      at=long_ago, started_at=long_ago), ada.token))
    accept(store, labs, protocol.signed(check_payload(store, alan.account_id, lab, {"create-topic": "pass"}), alan.token))
    grid = analysis.build(store.snapshot(), labs, stuck_minutes=10)
    assert [(row["learner"], row["task"]) for row in grid["stuck"]] == [("learner-01", "deploy-initial-resources")]
    assert grid["stuck"][0]["minutes"] >= 29
    assert analysis.build(store.snapshot(), labs, stuck_minutes=45)["stuck"] == []


# -- hand-ins ---------------------------------------------------------------------------------------------------
def handin_file(path, store, learner, labs, payloads):
    document = {"format": "lab-handin", "version": 1, "learner": learner.account_id,
                "submissions": [protocol.signed(p, learner.token) for p in payloads]}
    path.write_text(json.dumps(document))
    return document


def test_handin_imports_once_and_an_edited_file_is_refused_whole(cohort, labs, tmp_path):
    store, _ = cohort
    ada = store.learners()[0]
    lab = labs[LAB]
    payloads = [check_payload(store, ada.account_id, lab, {"create-topic": "pass"}),
                check_payload(store, ada.account_id, lab, {"create-topic": "pass", "publisher": "pass"})]
    good = tmp_path / "good.json"
    document = handin_file(good, store, ada, labs, payloads)
    result = handins.import_handin(store, labs, good)
    assert result.ok and (result.submissions, result.stored) == (2, 2)
    again = handins.import_handin(store, labs, good)
    assert again.ok and again.stored == 0

    document["submissions"][1]["payload"]["report"]["tasks"][6]["status"] = "pass"  # someone "fixed" a result
    document["submissions"].insert(0, protocol.signed(check_payload(store, ada.account_id, lab, {"deploy-initial-resources": "pass"}), ada.token))
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    count = store.submission_count()
    result = handins.import_handin(store, labs, edited)
    assert not result.ok and "Submission 3 of 3 was refused" in result.error
    assert store.submission_count() == count  # not even the good first one


def test_a_handin_smuggling_another_learners_submission_is_refused(cohort, labs, tmp_path):
    store, _ = cohort
    ada, alan = store.learners()[:2]
    path = tmp_path / "smuggle.json"
    document = {"format": "lab-handin", "version": 1, "learner": ada.account_id, "submissions": [
        protocol.signed(check_payload(store, ada.account_id, labs[LAB], {}), ada.token),
        protocol.signed(check_payload(store, alan.account_id, labs[LAB], {"create-topic": "pass"}), alan.token),
    ]}
    path.write_text(json.dumps(document))
    result = handins.import_handin(store, labs, path)
    assert not result.ok and "for another learner" in result.error
    assert store.submission_count() == 0


@pytest.mark.parametrize("content, reason", [
    (b"\x00\x01binary", "not a JSON hand-in"),
    (b'{"format": "something-else"}', "not a hand-in"),
    (b'{"format": "lab-handin", "version": 1, "learner": "999999999999", "submissions": []}', "not in cohort"),
])
def test_files_that_are_not_handins_are_named_as_such(cohort, labs, tmp_path, content, reason):
    store, _ = cohort
    path = tmp_path / "file.json"
    path.write_bytes(content)
    result = handins.import_handin(store, labs, path)
    assert not result.ok and reason in result.error


def test_opening_a_cohort_that_does_not_exist_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_HOME", str(tmp_path))
    from labkit.cohort.store import open_cohort

    with pytest.raises(BadInput, match="lab cohort init"):
        open_cohort()
    with pytest.raises(BadInput):
        CohortStore(tmp_path / "nope")
