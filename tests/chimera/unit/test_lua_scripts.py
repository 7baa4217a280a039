"""The Lua layer reads as it runs: named inputs, one order of keys, names rendered from Python."""

from __future__ import annotations

import dataclasses
import re
from importlib import resources

import pytest

from chimera.lib import fields
from chimera.lib.keys import Keyspace
from chimera.lib.lua import (
    audit_scripts,
    control_scripts,
    judge_scripts,
    park_scripts,
    retention_scripts,
    run_scripts,
    task_scripts,
)
from chimera.lib.lua.source import ScriptError, load, parse
from chimera.lib.lua.wrapper import ScriptKeys
from chimera.lib.records.audit_record import ChainLink
from chimera.lib.redis_lua import Lua
from chimera.ports.judge import CommitOutcome

KEYS = Keyspace("p").tenant("acme")

#: Every wrapper with one call of it, by script file.
CALLS = {
    "store_run": run_scripts.StoreRun.of(KEYS, "s1").call(
        run_id="r1",
        expected_version=0,
        run_json="{}",
        active=True,
        session_id="s1",
        events=[("e1", "{}")],
        entries=[task_scripts.NewEntry("t1", "{}", "")],
    ),
    "enqueue_tasks": task_scripts.EnqueueTasks.of(KEYS, "s1").call(
        session_id="s1", entries=[task_scripts.NewEntry("t1", "{}", "")]
    ),
    "publish_results": task_scripts.PublishResults.of(KEYS).call(
        group="workers", answers=[("1-0", "{}", "")]
    ),
    "retry_task": task_scripts.RetryTask.of(KEYS, "s1").call(
        group="workers", entry_id="1-0", task_id="t1", next_json="{}", due=1.0, count_retry=True
    ),
    "dead_letter_task": task_scripts.DeadLetterTask.of(KEYS, "s1").call(
        group="workers", entry_id="1-0", task_id="t1", letter_json="{}"
    ),
    "release_task": task_scripts.ReleaseTask.of(KEYS).call(
        group="workers", entry_id="1-0", body="{}"
    ),
    "promote_due": task_scripts.PromoteDue.of(KEYS).call(now=1.0, limit=10),
    "renew_leases": task_scripts.RenewLeases.of(KEYS).call(
        group="workers", consumer="c1", entry_ids=["1-0", "2-0"]
    ),
    "admit_tasks": task_scripts.AdmitTasks.of(KEYS, "s1").call(entries=[("t1", "{}")]),
    "discard_entries": task_scripts.DiscardEntries.of(KEYS).call(
        group="workers", entry_ids=["1-0"]
    ),
    "park_for_review": park_scripts.ParkForReview.of(KEYS, "s1").call(
        group="workers", entry_id="1-0", task_id="t1", item_json="{}"
    ),
    "judge_apply": judge_scripts.JudgeApply.of(KEYS, "s1").call(
        group="judges",
        items=[
            judge_scripts.ApplyItem(
                entry_id="1-0",
                task_id="t1",
                action=fields.JudgeAction.APPROVE,
                expected_row="{}",
                payload="{}",
                due=0.0,
            )
        ],
    ),
    "review_decide": judge_scripts.ReviewDecide.of(KEYS, "s1").call(
        task_id="t1", choice=fields.ReviewChoice.APPROVE, result_json="{}"
    ),
    "replay_dead_letter": judge_scripts.ReplayDeadLetter.of(KEYS, "s1").call(
        dead_letter_id="1-0", task_id="t1", task_json="{}"
    ),
    "dead_letter_result": judge_scripts.DeadLetterResult.of(KEYS, "s1").call(
        group="judges", entry_id="1-0", task_id="t1", expected_row="{}", letter_json="{}"
    ),
    "audit_append": audit_scripts.AuditAppend.of(KEYS).call(
        expected_seq=0, links=[ChainLink(1, "0" * 64, "h", "e1", "{}")]
    ),
    "cancel_task": control_scripts.CancelTask.of(KEYS, "s1").call(
        task_id="t1", note_json="{}", event=("e1", "{}")
    ),
    "read_tasks": control_scripts.ReadTasks.of(KEYS).call(
        group="workers", consumer="c1", count=10, max_in_flight=5, rate=2.0, burst=4
    ),
    "count_usage": control_scripts.CountUsage.of(KEYS, "s1").call(day="2026-01-02", tokens=5),
    "review_retry": control_scripts.ReviewRetry.of(KEYS, "s1").call(
        task_id="t1", next_json="{}", event=("e1", "{}")
    ),
    "scan_ids": retention_scripts.ScanIds(records=KEYS.committed).call(cursor="0", count=10),
    "trim_committed": retention_scripts.TrimCommitted.of(KEYS).call(
        cursor="0", count=10, before="01J", dry_run=False
    ),
    "trim_settled": retention_scripts.TrimSettled.of(KEYS).call(
        cursor="0", count=10, before="01J", dry_run=True
    ),
    "trim_session": retention_scripts.TrimSession.of(KEYS, "s1").call(
        session_id="s1", dry_run=False
    ),
    "count_before": retention_scripts.CountBefore(stream=KEYS.dlq).call(before="1-0"),
    "retention_lease": retention_scripts.RetentionLease(retention_lock=KEYS.retention_lock).call(
        owner="w1", ttl_ms=1000
    ),
    "trim_audit": retention_scripts.TrimAudit.of(KEYS).call(
        expected_seq=3,
        through_entry="1-0",
        through_seq=1,
        through_hash="h",
        checkpoint=ChainLink(4, "h3", "h4", "e4", "{}"),
        trimmed_ids=["e1"],
    ),
}

#: The one order in which every script takes the tenant's keys it needs.
KEY_ORDER = [
    "stream",
    "records",
    "runs",
    "run_versions",
    "runs_active",
    "tasks",
    "results",
    "ledger",
    "committed",
    "settled",
    "review",
    "delayed",
    "delayed_traces",
    "cancelled",
    "quota",
    "usage",
    "dlq",
    "session",
    "sessions",
    "session_tasks",
    "audit",
    "audit_head",
    "audit_ids",
    "audit_pending",
    "audit_checkpoint",
    "retention_lock",
]

WRAPPERS = {
    cls.__name__: cls
    for module in (
        task_scripts,
        judge_scripts,
        audit_scripts,
        control_scripts,
        park_scripts,
        retention_scripts,
        run_scripts,
    )
    for cls in vars(module).values()
    if isinstance(cls, type) and issubclass(cls, ScriptKeys) and cls is not ScriptKeys
}


def lua_files() -> list[str]:
    folder = resources.files("chimera.lib.lua")
    return sorted(p.name.removesuffix(".lua") for p in folder.iterdir() if p.name.endswith(".lua"))


def test_every_script_file_has_a_wrapper_and_a_call_here() -> None:
    assert lua_files() == sorted(CALLS)
    assert len(WRAPPERS) == len(CALLS)


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_wrapper_keys_are_the_keys_its_script_names(wrapper: str) -> None:
    cls = WRAPPERS[wrapper]
    assert tuple(f.name for f in dataclasses.fields(cls)) == cls.SCRIPT.key_names
    # Each call built above went through the script's own names (a mismatch raises).
    call = CALLS[cls.SCRIPT.name]
    assert call.script is cls.SCRIPT
    assert len(call.keys) == len(cls.SCRIPT.key_names)
    assert len(call.args) >= len(cls.SCRIPT.arg_names)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_script_takes_its_keys_in_the_one_order(name: str) -> None:
    names = list(CALLS[name].script.key_names)
    assert names == sorted(names, key=KEY_ORDER.index)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_scripts_say_what_they_check_and_do_and_carry_no_placeholders(name: str) -> None:
    text = resources.files("chimera.lib.lua").joinpath(f"{name}.lua").read_text()
    assert text.startswith(f"-- {name.upper()}: ")
    assert "-- Checks" in text
    assert "-- Reply:" in text
    source = CALLS[name].script.source
    assert "$" not in source
    # No number indexes KEYS or ARGV below the declarations.
    body = re.sub(r"(?m)^local \w+ = (KEYS|ARGV)\[\d+\]$", "", source)
    body = re.sub(r"--[^\n]*", "", body)
    assert not re.search(r"KEYS\[|ARGV\[\d", body)


def test_names_are_rendered_from_the_python_constants() -> None:
    source = task_scripts.ENQUEUE_TASKS.source
    assert f"local BODY = '{fields.BODY}'" in source
    assert f"local TRACEPARENT = '{fields.TRACEPARENT}'" in source
    apply = judge_scripts.JUDGE_APPLY.source
    for outcome in CommitOutcome:
        assert f"'{outcome.value}'" in apply


def test_the_names_given_to_lua_are_plain_words() -> None:
    names = fields.lua_names()
    assert names["COUNT_DEAD_LETTERED"] == fields.Counter.DEAD_LETTERED
    assert names["OUTCOME_DUPLICATE"] == CommitOutcome.DUPLICATE
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", value) for value in names.values())


def test_retry_counts_only_when_told() -> None:
    keys = task_scripts.RetryTask.of(KEYS, "s1")
    counted = keys.call(
        group="g", entry_id="1-0", task_id="t", next_json="{}", due=1.0, count_retry=True
    )
    deferred = keys.call(
        group="g", entry_id="1-0", task_id="t", next_json="{}", due=1.0, count_retry=False
    )
    count = task_scripts.RETRY_TASK.arg_names.index("count_retry")
    assert (counted.args[count], deferred.args[count]) == ("1", "0")
    assert counted.keys[task_scripts.RETRY_TASK.key_names.index("session")] == KEYS.session("s1")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("local a_key = KEYS[2]\n", "a_key is KEYS[2], expected the next one"),
        ("local tasks = KEYS[1]\n", "key tasks should end in _key"),
        ("local a_key = KEYS[1]\nreturn KEYS[1]\n", "KEYS used outside"),
        ("local a = ARGV[1]\nreturn ARGV[2]\n", "numbered ARGV used outside"),
        ("local BODY = $NO_SUCH_NAME\n", "unknown name $NO_SUCH_NAME"),
    ],
)
def test_a_script_that_breaks_the_layout_fails_at_load(text: str, problem: str) -> None:
    with pytest.raises(ScriptError, match=re.escape(problem)):
        parse("bad", text)


def test_comments_may_mention_numbered_arguments() -> None:
    script = parse("ok", "local a = ARGV[1]\n-- ARGV[2..]: more\nfor i = 2, #ARGV do end\n")
    assert script.arg_names == ("a",)


def test_a_call_with_wrong_names_is_refused() -> None:
    script = Lua("return 1", name="demo", key_names=("tasks",), arg_names=("group",))
    assert script.call({"tasks": "k"}, {"group": "g"}, int).args == ["g"]
    with pytest.raises(ValueError, match="demo: called with keys \\['stream'\\]"):
        script.call({"stream": "k"}, {"group": "g"}, int)
    with pytest.raises(ValueError, match="it takes keys \\['tasks'\\] and args \\['group'\\]"):
        script.call({"tasks": "k"}, {}, int)


def test_loading_an_unknown_script_fails() -> None:
    with pytest.raises(FileNotFoundError):
        load("no_such_script")
