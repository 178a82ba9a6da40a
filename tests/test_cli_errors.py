"""Every error a learner can cause ends in one sentence and a documented exit code."""

from __future__ import annotations

import os
import socket

import psutil
import pytest

from labkit import emulator
from labkit.backends import free_port
from tests.conftest import run_lab


def assert_one_clear_error(result, code: int, *phrases: str):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def test_unknown_lab_suggests_the_closest(empty_home):
    result = run_lab("start", "sns-fanuot")
    assert_one_clear_error(result, 2, "There is no lab called 'sns-fanuot'. Did you mean 'sns-fanout'?")


def test_check_before_any_start_says_what_to_do(empty_home):
    assert_one_clear_error(run_lab("check"), 2, "No lab has been started yet", "lab start sns-fanout")
    assert_one_clear_error(run_lab("check", "sns-fanout"), 3, "No emulator is running", "lab start sns-fanout")
    assert_one_clear_error(run_lab("hint"), 2, "No lab has been started yet")
    assert_one_clear_error(run_lab("env"), 3, "No emulator is running")


def test_a_port_taken_by_another_program_offers_another_port(empty_home):
    port = free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = run_lab("start", "sns-fanout", "--backend", "ministack", "--port", str(port))
    assert_one_clear_error(result, 3, f"Port {port} on 127.0.0.1 is already in use by another program",
                           f"--port {port + 1}")


def test_an_unknown_task_or_backend_is_bad_input(empty_home):
    assert_one_clear_error(run_lab("start", "sns-fanout", "--backend", "docker"), 2, "Invalid value for '--backend'")
    assert_one_clear_error(run_lab("start", "sns-fanout", "--backend", "external"), 2,
                           "pass --endpoint URL")


def test_a_non_loopback_endpoint_must_answer(empty_home):
    result = run_lab("start", "sns-fanout", "--endpoint", "http://127.0.0.1:9")
    assert_one_clear_error(result, 3, "Nothing answers at http://127.0.0.1:9")


@pytest.mark.parametrize("engine", ["ministack"], indirect=True)
def test_an_emulator_killed_between_start_and_check_gives_exit_3_and_the_fix(lab_home):
    assert run_lab("start", "sns-fanout", "--backend", "ministack").returncode == 0
    state = emulator.current_state()
    psutil.Process(state.pid).kill()
    psutil.Process(state.pid).wait(5) if psutil.pid_exists(state.pid) else None
    result = run_lab("check")
    assert_one_clear_error(result, 3, "is not answering", "lab start sns-fanout")
    assert_one_clear_error(run_lab("check", "--json"), 3, "is not answering")


def test_stop_does_not_kill_a_program_that_reused_the_recorded_pid(empty_home):
    # Record our own test process as if it were the emulator, but with another start time.
    me = psutil.Process(os.getpid())
    state = emulator.EmulatorState(backend="ministack", url="http://127.0.0.1:9", port=9,
                                   pid=me.pid, pid_created=me.create_time() - 1000)
    emulator._save(state)
    result = run_lab("stop")
    assert result.returncode == 0
    assert "belongs to another program" in result.stdout
    assert me.is_running()
    assert emulator.current_state() is None


def test_check_exit_codes_follow_the_contract(lab_home):
    assert run_lab("start", "sns-fanout", "--backend", lab_home.engine).returncode == 0
    assert run_lab("check").returncode == 1
    assert run_lab("solve", "sns-fanout").returncode == 0
    result = run_lab("check", "--json")
    assert result.returncode == 0, result.stdout


def test_stop_with_nothing_running_is_a_calm_no_op(empty_home):
    result = run_lab("stop")
    assert result.returncode == 0 and "No emulator is running" in result.stdout


def test_an_endpoint_on_another_machine_needs_allow_remote(empty_home):
    result = run_lab("start", "sns-fanout", "--endpoint", "http://10.1.2.3:4566")
    assert_one_clear_error(result, 2, "Refusing to send AWS requests to 10.1.2.3", "--allow-remote")
    assert emulator.current_state() is None


def test_a_malformed_lab_yaml_is_named_with_its_field(empty_home, tmp_path):
    folder = tmp_path / "labs" / "broken-lab"
    folder.mkdir(parents=True)
    (folder / "lab.yaml").write_text("id: broken-lab\ntitle: A broken lab\nminutes: soon\n")
    result = run_lab("show", "broken-lab", env={"LAB_PATH": str(tmp_path / "labs")})
    assert_one_clear_error(result, 2, str(folder / "lab.yaml"), "field '")
    listing = run_lab("list", env={"LAB_PATH": str(tmp_path / "labs")})  # the other labs still list
    assert listing.returncode == 0 and "sns-fanout" in listing.stdout
    assert "skipped an invalid lab" in listing.stderr and "broken-lab" in listing.stderr


def test_reset_without_a_terminal_asks_for_yes(empty_home):
    assert_one_clear_error(run_lab("reset", "sns-fanout"), 2, "pass --yes")
