"""chimera's Lua scripts, one ``.lua`` file each, and a typed Python wrapper per script.

Every step that changes more than one key is one script, so it is atomic:

=====================  ==========================================  ===================
script                 what for                                    wrapper
=====================  ==========================================  ===================
``enqueue_tasks``      a session's batch of tasks (Planner)        ``EnqueueTasks``
``publish_results``    Results published with their acks (Worker)  ``PublishResults``
``retry_task``         ack, then schedule the next attempt         ``RetryTask``
``dead_letter_task``   ack, then dead-letter                       ``DeadLetterTask``
``release_task``       hand a task back (graceful stop)            ``ReleaseTask``
``promote_due``        delayed tasks back into the stream          ``PromoteDue``
``renew_leases``       keep held entries from being reclaimed      ``RenewLeases``
``admit_tasks``        may these entries run? (Worker, per batch)  ``AdmitTasks``
``discard_entries``    ack and delete stale copies                 ``DiscardEntries``
``judge_apply``        the Judge's commit / deny / review / retry  ``JudgeApply``
                       of a batch of one session's Results
``review_decide``      a human's approve or reject                 ``ReviewDecide``
``replay_dead_letter`` a dead letter back into the stream          ``ReplayDeadLetter``
``dead_letter_result`` give up on a Result no Judge can judge      ``DeadLetterResult``
``audit_append``       compare-and-set append to the audit chain   ``AuditAppend``
=====================  ==========================================  ===================

Each file names its inputs at the top and says what it checks and does; the wrappers
(``task_scripts``, ``judge_scripts``, ``audit_scripts``) pass keys and arguments by those
names (see ``source``), and every call goes through ``LuaBatch`` (``EVALSHA``, pipelined,
reloaded on ``NOSCRIPT``). Field, counter and state names come from ``chimera.lib.fields``.
"""
