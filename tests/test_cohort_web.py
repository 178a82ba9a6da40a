"""The collector and the facilitator API over real HTTP (`lab cohort serve --no-emulator`):
who may read what, what a submission must look like, and that bad ones leave nothing behind."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys

import pytest

from labkit import catalog
from labkit.cohort import protocol
from labkit.cohort.harness import Server, bearer, check_payload, http, make_cohort, submit
from labkit.cohort.store import CohortStore
from labkit.home import REPO_ROOT

LAB = "sns-fanout"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("cohort-web")
    store, token = make_cohort(home, learners=["Ada Lovelace", "Alan Turing"])
    with Server(home, engine=None) as server:
        yield server, CohortStore(store.folder), token


@pytest.fixture
def lab():
    return catalog.get(LAB)


def count(store) -> int:
    return store.submission_count()


# -- facilitator authentication -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/_cohort/api/grid", "/_cohort/api/grades.csv", "/_cohort/api/grades?format=json",
                                  "/_cohort/partials/dashboard"])
def test_facilitator_endpoints_need_the_facilitator_token(served, path):
    server, store, token = served
    ada = store.learners()[0]
    assert http("GET", server.url + path)[0] == 401
    assert http("GET", server.url + path, headers=bearer("fac_wrong-token"))[0] == 401
    assert http("GET", server.url + path, headers=bearer(ada.token))[0] == 403
    assert http("GET", server.url + path, headers=bearer(token))[0] == 200


def test_the_dashboard_page_asks_for_the_token_and_a_learner_token_does_not_open_it(served):
    server, store, token = served
    status, _, body = http("GET", server.url + "/_cohort/")
    assert status == 200 and b'name="token"' in body and b"learner" not in body.lower().split(b"<form")[0][-10:]
    ada = store.learners()[0]
    status, _, body = http("POST", server.url + "/_cohort/login", f"token={ada.token}".encode(),
                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403 and b"learner token" in body
    status, headers, _ = http("POST", server.url + "/_cohort/login", f"token={token}".encode(),
                              {"Content-Type": "application/x-www-form-urlencoded"})
    cookie = headers.get("set-cookie", "")
    assert status in (200, 303) and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_pages_are_locked_down(served):
    server, _, token = served
    _, headers, _ = http("GET", server.url + "/_cohort/api/grid", headers=bearer(token))
    assert "script-src 'self'" in headers["content-security-policy"] and headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"


def test_a_cookie_session_cannot_trigger_grading_cross_site(served):
    server, _, token = served
    _, headers, _ = http("POST", server.url + "/_cohort/login", f"token={token}".encode(),
                         {"Content-Type": "application/x-www-form-urlencoded"})
    cookie = headers["set-cookie"].split(";")[0]
    status, _, body = http("POST", server.url + "/_cohort/api/check", b'{"lab": "sns-fanout"}',
                           {"Cookie": cookie, "Content-Type": "application/json"})
    assert status == 403 and b"X-Requested-With" in body


# -- learners ---------------------------------------------------------------------------------------------------------
def test_a_learner_sees_only_themselves_and_only_with_a_valid_signature(served):
    server, store, _ = served
    ada, alan = store.learners()
    path = "/_cohort/api/me"
    status, _, body = http("GET", server.url + path, headers=protocol.request_headers(ada.token, "GET", path))
    me = json.loads(body)
    assert status == 200 and me["learner"]["account"] == ada.account_id and me["shared_emulator"] is False
    assert ada.token not in body.decode() and alan.account_id not in body.decode()
    claimed = {**protocol.request_headers(ada.token, "GET", path), "X-Lab-Learner": alan.account_id}
    assert http("GET", server.url + path, headers=claimed)[0] == 403  # Ada's signature, Alan's name
    assert http("GET", server.url + path)[0] == 403
    stale = protocol.request_headers(ada.token, "GET", path)
    stale["X-Lab-Time"] = str(int(stale["X-Lab-Time"]) - 3600)
    stale["X-Lab-Signature"] = protocol.request_signature(ada.token, "GET", path, stale["X-Lab-Time"])
    assert http("GET", server.url + path, headers=stale)[0] == 403


def test_a_valid_submission_is_stored_and_its_replay_is_harmless(served, lab):
    server, store, _ = served
    ada = store.learners()[0]
    document = protocol.signed(check_payload(store, ada.account_id, lab, {"create-topic": "pass"}), ada.token)
    before = count(store)
    assert submit(server.url, document) == (201, {"stored": True, "duplicate": False, "nonce": document["payload"]["nonce"]})
    status, answer = submit(server.url, document)
    assert status == 200 and answer["duplicate"] is True
    assert count(store) == before + 1


@pytest.mark.parametrize("case", ["tampered", "someone-else", "unknown-learner", "bad-signature-format"])
def test_forged_submissions_are_refused_and_leave_nothing(served, lab, case):
    server, store, _ = served
    ada, alan = store.learners()
    payload = check_payload(store, ada.account_id, lab, {"create-topic": "pass"})
    document = protocol.signed(payload, ada.token)
    if case == "tampered":
        document["payload"]["report"]["tasks"][-1]["status"] = "pass"
    elif case == "someone-else":
        document = protocol.signed(check_payload(store, alan.account_id, lab, {"create-topic": "pass"}), ada.token)
    elif case == "unknown-learner":
        document = protocol.signed({**payload, "learner": "999999999999"}, ada.token)
    else:
        document["signature"] = "zz"
    before = count(store)
    status, answer = submit(server.url, document)
    assert status == (400 if case == "bad-signature-format" else 403), answer
    assert answer["error"]
    assert count(store) == before


@pytest.mark.parametrize("body, status, phrase", [
    (b"this is not json", 400, "not valid UTF-8 JSON"),
    (b'{"payload": {}}', 400, "exactly two keys"),
    (b"[1, 2, 3]", 400, "exactly two keys"),
    (json.dumps({"payload": {"x": "y" * (protocol.MAX_SUBMISSION_BYTES + 10)}, "signature": "0" * 64}).encode(), 413, "larger than"),
])
def test_malformed_and_oversize_submissions_get_a_clear_error(served, body, status, phrase):
    server, store, _ = served
    before = count(store)
    got, answer = post_tolerating_early_reply(server.port, body)
    assert got == status and phrase in answer["error"]
    assert count(store) == before


def post_tolerating_early_reply(port: int, body: bytes) -> tuple[int, dict]:
    """POST, and read the answer even if the server answered (413) before taking the whole body."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", "/_cohort/api/submissions")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders()
    try:
        connection.send(body)
    except (BrokenPipeError, ConnectionResetError):
        pass
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def test_oversize_without_content_length_is_refused_too(served):
    """A chunked upload has no Content-Length to check up front; it is cut off at the limit."""
    server, store, _ = served
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/_cohort/api/submissions")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.putheader("Content-Type", "application/json")
    connection.endheaders()
    chunk = b"x" * 65536
    try:
        for _ in range(protocol.MAX_SUBMISSION_BYTES // len(chunk) + 2):
            connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert connection.getresponse().status == 413


# -- grades -------------------------------------------------------------------------------------------------------------
def test_csv_from_the_api_matches_the_json_api_and_the_cli(served, lab):
    server, store, token = served
    alan = store.learners()[1]
    submit(server.url, protocol.signed(check_payload(store, alan.account_id, lab,
                                                     {"deploy-initial-resources": "pass", "create-topic": "pass"}), alan.token))
    _, _, raw_csv = http("GET", server.url + "/_cohort/api/grades.csv", headers=bearer(token))
    _, _, raw_json = http("GET", server.url + "/_cohort/api/grades.json", headers=bearer(token))
    rows = list(csv.DictReader(io.StringIO(raw_csv.decode())))
    document = json.loads(raw_json)
    assert [row["id"] for row in rows] == [row["id"] for row in document["learners"]]
    for row, learner in zip(rows, document["learners"]):
        assert row["total"] == learner["total"]
        assert all(row[column] == learner["tasks"][column] for column in document["columns"])
    assert rows[1]["total"] == "1.5" and rows[1][f"{LAB}:deploy-initial-resources"] == "0.5"
    cli = subprocess.run([sys.executable, str(REPO_ROOT / "lab.py"), "cohort", "grades", "--format", "csv"],
                         capture_output=True, text=True, env=server.env(), timeout=60)
    assert cli.returncode == 0 and cli.stdout.replace("\r\n", "\n") == raw_csv.decode().replace("\r\n", "\n")


def test_unsigned_aws_style_calls_are_refused_with_a_hint_and_control_paths_are_closed(served):
    server, _, _ = served
    status, _, body = http("POST", server.url + "/", b"Action=ListQueues", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403 and b"unsigned requests are not accepted" in body
    signed_like = {"Authorization": "AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/sqs/aws4_request, "
                                    "SignedHeaders=host, Signature=00"}
    status, _, body = http("POST", server.url + "/", b"{}", signed_like)
    assert status == 403 and b"runs no shared emulator" in body
    assert re.search(rb"ok", http("GET", server.url + "/_cohort/healthz")[2])


def _self_signed(folder) -> tuple[str, str]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_tls_serves_the_same_api_and_marks_the_session_cookie_secure(tmp_path):
    store, token = make_cohort(tmp_path, learners=1)
    with Server(tmp_path, "workshop", None, tls=_self_signed(tmp_path)) as server:
        status, headers, _ = http("POST", server.url + "/_cohort/login", f"token={token}".encode(),
                                  {"Content-Type": "application/x-www-form-urlencoded"}, context=server.ssl_context)
        assert status == 303 and "Secure" in headers["set-cookie"] and "HttpOnly" in headers["set-cookie"]
        status, _, body = http("GET", server.url + "/_cohort/api/grid", headers=bearer(token), context=server.ssl_context)
        assert status == 200 and json.loads(body)["cohort"]["learners"] == 1
        assert http("GET", server.url.replace("https", "http") + "/_cohort/healthz", timeout=3)[0] != 200
