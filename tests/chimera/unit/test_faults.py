"""Loops tell transient faults from permanent ones and from bugs."""

from __future__ import annotations

import pytest
import structlog
from redis import exceptions as rx

from chimera.lib.redis_faults import classify
from chimera.services.faults import Fault, PermanentFault, classify_builtin, handle


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (rx.ConnectionError("reset by peer"), Fault.TRANSIENT),
        (rx.TimeoutError("read timed out"), Fault.TRANSIENT),
        (rx.BusyLoadingError("LOADING"), Fault.TRANSIENT),
        (rx.ResponseError("TRYAGAIN multiple keys"), Fault.TRANSIENT),
        (ConnectionResetError(), Fault.TRANSIENT),
        (rx.ClusterError("TTL exhausted."), Fault.TRANSIENT),
        (rx.SlotNotCoveredError("slot 12 not covered"), Fault.TRANSIENT),
        (rx.ClusterCrossSlotError("CROSSSLOT keys"), Fault.UNEXPECTED),
        (rx.NoPermissionError("NOPERM no permissions"), Fault.PERMANENT),
        (rx.AuthenticationError("WRONGPASS invalid username-password"), Fault.PERMANENT),
        (rx.ResponseError("NOPERM this user has no permissions to access a key"), Fault.PERMANENT),
        (rx.ResponseError("ERR wrong number of arguments"), Fault.UNEXPECTED),
        (KeyError("body"), Fault.UNEXPECTED),
    ],
)
def test_redis_faults_are_classified(error: BaseException, kind: Fault) -> None:
    assert classify(error) is kind


def test_builtin_classifier_knows_only_network_errors() -> None:
    assert classify_builtin(ConnectionRefusedError()) is Fault.TRANSIENT
    assert classify_builtin(ValueError()) is Fault.UNEXPECTED


def test_a_transient_fault_is_one_warning_line_saying_what_happens_next() -> None:
    log = structlog.get_logger("test")
    with structlog.testing.capture_logs() as logs:
        handle(log, "worker.flush_failed", rx.ConnectionError("gone"), classify, "retrying in 0.5s")
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["next"] == "retrying in 0.5s"
    assert "exc_info" not in warnings[0]


def test_a_bug_is_logged_with_its_traceback() -> None:
    log = structlog.get_logger("test")
    with structlog.testing.capture_logs() as logs:
        handle(log, "judge.batch_failed", KeyError("x"), classify, "retrying")
    [entry] = logs
    assert entry["log_level"] == "error"
    assert isinstance(entry["exc_info"], KeyError)


def test_a_permanent_fault_raises_with_the_servers_own_words() -> None:
    error = rx.NoPermissionError(
        "Command # 1 (SCRIPT LOAD local x = 1 ...) of pipeline caused error: no permissions"
    )
    with pytest.raises(PermanentFault) as raised:
        handle(structlog.get_logger("t"), "worker.promote_failed", error, classify, "again")
    assert str(raised.value) == "worker.promote_failed: NoPermissionError: no permissions"
    assert raised.value.cause is error
