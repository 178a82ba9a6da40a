"""Nothing leaves the machine: dummy credentials, loopback-only endpoints, a send guard."""

from __future__ import annotations

import socket

import boto3
import pytest

from labkit import session
from labkit.aws import ClientFactory, Endpoint, is_loopback_url, learner_code_environment
from labkit.errors import UnsafeEndpoint
from tests.labtools import start

REAL_LOOKING = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "real-session-token",
    "AWS_PROFILE": "production",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ENDPOINT_URL": "https://sqs.eu-west-1.amazonaws.com",
}


@pytest.mark.parametrize("url", ["http://127.0.0.1:4566", "http://localhost:4566", "http://[::1]:4566",
                                 "http://127.8.9.10:1"])
def test_loopback_urls_are_allowed(url):
    assert is_loopback_url(url)
    Endpoint(url)


@pytest.mark.parametrize("url", ["https://sqs.us-east-1.amazonaws.com", "http://10.0.0.5:4566",
                                 "http://192.168.1.2:4566", "http://example.com"])
def test_non_loopback_endpoints_are_refused_unless_named(url):
    with pytest.raises(UnsafeEndpoint, match="not this machine"):
        Endpoint(url)
    Endpoint(url, allow_remote=True)  # the user passed --endpoint for it


def test_the_send_guard_blocks_a_request_to_another_host():
    factory = ClientFactory(Endpoint("http://127.0.0.1:9"))
    sqs = factory.client("sqs")
    request = type("Request", (), {"url": "https://sqs.us-east-1.amazonaws.com/"})()
    with pytest.raises(UnsafeEndpoint, match="Blocked a request to sqs.us-east-1.amazonaws.com"):
        factory._guard(request)
    assert sqs.meta.endpoint_url == "http://127.0.0.1:9"


def test_clients_ignore_profiles_and_real_credentials(monkeypatch):
    for name, value in REAL_LOOKING.items():
        monkeypatch.setenv(name, value)
    factory = ClientFactory(Endpoint("http://127.0.0.1:9"))
    sqs = factory.client("sqs")  # a missing "production" profile would raise here
    credentials = sqs._request_signer._credentials
    assert credentials.access_key == "test" and credentials.token is None
    assert sqs.meta.endpoint_url == "http://127.0.0.1:9"
    assert sqs.meta.region_name == "us-east-1"


def test_learner_code_gets_the_emulator_and_dummy_credentials(monkeypatch):
    for name, value in REAL_LOOKING.items():
        monkeypatch.setenv(name, value)
    factory = ClientFactory(Endpoint("http://127.0.0.1:9"))
    with learner_code_environment(factory):
        client = boto3.client("sns")
        assert client.meta.endpoint_url == "http://127.0.0.1:9"
        assert client._request_signer._credentials.access_key == "test"
        with pytest.raises(UnsafeEndpoint):
            boto3.client("sns", endpoint_url="https://sns.us-east-1.amazonaws.com").list_topics()
    assert boto3.DEFAULT_SESSION is not factory.learner_session()
    import os

    assert os.environ["AWS_PROFILE"] == "production"  # restored afterwards


@pytest.mark.parametrize("engine", ["ministack"], indirect=True)
def test_a_full_check_with_real_credentials_in_the_environment_only_talks_to_loopback(lab_home, monkeypatch):
    start("sns-fanout", lab_home)
    session.solve_lab("sns-fanout")
    for name, value in REAL_LOOKING.items():
        monkeypatch.setenv(name, value)
    destinations = []
    real_connect = socket.socket.connect

    def recording_connect(sock, address):
        destinations.append(address[0])
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    report = session.check_lab("sns-fanout")
    assert report.all_passed, [(t.id, t.message) for t in report.tasks]
    assert destinations, "the check made no connection at all"
    assert set(destinations) <= {"127.0.0.1", "::1", "localhost"}, set(destinations)
