"""The LocalStack backend's logic, with a fake command runner (no Docker here)."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from labkit import emulator
from labkit.backends.localstack import COMPOSE_FILE, DEFAULT_IMAGE, LocalStackBackend
from labkit.errors import EXIT_EMULATOR, EmulatorError


class FakeDocker:
    """Answers docker commands from a script and records what was run."""

    def __init__(self, daemon=True, compose=True, up_rc=0, exit_code=None):
        self.daemon, self.compose, self.up_rc, self.exit_code = daemon, compose, up_rc, exit_code
        self.calls: list[tuple[list[str], dict | None]] = []

    def __call__(self, args, env=None, timeout=60):
        self.calls.append((args, env))
        done = lambda rc=0, out="", err="": subprocess.CompletedProcess(args, rc, out, err)  # noqa: E731
        if args[:2] == ["docker", "info"]:
            return done() if self.daemon else done(1, err="Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")
        if args[:3] == ["docker", "compose", "version"]:
            return done() if self.compose else done(1, err="docker: unknown command: docker compose")
        if "up" in args:
            return done(self.up_rc, err="pull access denied" if self.up_rc else "")
        if "ps" in args:
            return done(out=f"exited {self.exit_code}\n" if self.exit_code is not None else "running 0\n")
        if "down" in args:
            return done()
        raise AssertionError(f"unexpected command {args}")

    def commands(self):
        return [args for args, _ in self.calls]

    def env_of(self, word):
        return next(env for args, env in self.calls if word in args)


def backend(docker, health_answers=(None, {"services": {"sqs": "running", "sns": "available"}}), which="/usr/bin/docker"):
    answers = list(health_answers)
    return LocalStackBackend(
        runner=docker,
        health=lambda url: answers.pop(0) if len(answers) > 1 else answers[0],
        which=lambda name: which,
        sleep=lambda seconds: None,
        ready_timeout=5,
    )


def test_missing_docker_is_one_clear_sentence_with_exit_code_3(empty_home):
    with pytest.raises(EmulatorError) as raised:
        backend(FakeDocker(), which=None).start(4566)
    assert "Docker is not installed" in str(raised.value)
    assert "--backend ministack" in str(raised.value)
    assert raised.value.exit_code == EXIT_EMULATOR


def test_a_daemon_that_does_not_answer_is_named(empty_home):
    with pytest.raises(EmulatorError, match="daemon is not answering \\(Cannot connect to the Docker daemon"):
        backend(FakeDocker(daemon=False)).start(4566)


def test_compose_v1_only_is_named(empty_home):
    with pytest.raises(EmulatorError, match="Docker Compose v2"):
        backend(FakeDocker(compose=False)).start(4566)


def test_start_runs_compose_with_the_pinned_image_and_waits_for_health(empty_home, monkeypatch):
    monkeypatch.delenv("LOCALSTACK_IMAGE", raising=False)
    monkeypatch.delenv("LOCALSTACK_AUTH_TOKEN", raising=False)
    docker = FakeDocker()
    state = backend(docker).start(4599)
    up = next(args for args in docker.commands() if "up" in args)
    assert up == ["docker", "compose", "-f", str(COMPOSE_FILE), "-p", "lab", "up", "-d"]
    env = docker.env_of("up")
    assert env["LOCALSTACK_IMAGE"] == DEFAULT_IMAGE == "localstack/localstack:4.14.0"
    assert env["LOCALSTACK_PORT"] == "4599"
    assert "LOCALSTACK_AUTH_TOKEN" not in env
    assert state.url == "http://127.0.0.1:4599" and state.backend == "localstack"


def test_auth_token_and_image_override_are_passed_through(empty_home, monkeypatch):
    monkeypatch.setenv("LOCALSTACK_AUTH_TOKEN", "ls-secret")
    monkeypatch.setenv("LOCALSTACK_IMAGE", "localstack/localstack:latest")
    docker = FakeDocker()
    backend(docker).start(4566)
    env = docker.env_of("up")
    assert env["LOCALSTACK_AUTH_TOKEN"] == "ls-secret"
    assert env["LOCALSTACK_IMAGE"] == "localstack/localstack:latest"


def test_an_image_that_needs_a_token_explains_exit_code_55(empty_home, monkeypatch):
    monkeypatch.setenv("LOCALSTACK_IMAGE", "localstack/localstack:latest")
    with pytest.raises(EmulatorError) as raised:
        backend(FakeDocker(exit_code=55), health_answers=(None,)).start(4566)
    assert "needs LOCALSTACK_AUTH_TOKEN" in str(raised.value)
    assert "unset LOCALSTACK_IMAGE" in str(raised.value)


def test_a_failed_compose_up_is_reported(empty_home):
    with pytest.raises(EmulatorError, match="docker compose up` failed: pull access denied"):
        backend(FakeDocker(up_rc=1)).start(4566)


def test_never_healthy_times_out_with_the_logs_command(empty_home):
    with pytest.raises(EmulatorError, match="did not report ready"):
        backend(FakeDocker(), health_answers=(None,)).start(4566)


def test_stop_runs_compose_down(empty_home):
    docker = FakeDocker()
    lab_backend = backend(docker)
    state = lab_backend.start(4566)
    assert "Stopped LocalStack" in lab_backend.stop(state)
    assert any("down" in args for args in docker.commands())


def test_auto_prefers_localstack_when_docker_answers_and_says_why():
    chosen, reason = emulator.choose_backend("auto", localstack=backend(FakeDocker()))
    assert chosen.name == "localstack"
    assert "Docker daemon answers" in reason


def test_auto_falls_back_to_ministack_and_says_why():
    chosen, reason = emulator.choose_backend("auto", localstack=backend(FakeDocker(daemon=False)))
    assert chosen.name == "ministack"
    assert "daemon is not answering" in reason


def test_the_compose_file_binds_loopback_and_checks_health():
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    service = compose["services"]["localstack"]
    assert service["image"] == "${LOCALSTACK_IMAGE:-localstack/localstack:4.14.0}"
    assert all(port.startswith("127.0.0.1:") for port in service["ports"])
    assert "/_localstack/health" in " ".join(service["healthcheck"]["test"])
    assert "LOCALSTACK_AUTH_TOKEN" in service["environment"]
