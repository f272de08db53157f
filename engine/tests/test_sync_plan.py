from datetime import date

from engine.sync import FolderState, plan_folder


def test_first_pass_uses_since_date():
    plan = plan_folder(FolderState(None, 0, False), 7, 50, date(2026, 1, 1))
    assert plan.since == date(2026, 1, 1) and plan.min_uid == 1 and not plan.reset


def test_incremental_pass_searches_above_cursor_without_since():
    plan = plan_folder(FolderState(7, 41, True), 7, 50, date(2026, 1, 1))
    assert plan.since is None and plan.min_uid == 42 and not plan.up_to_date


def test_uidnext_says_nothing_new():
    assert plan_folder(FolderState(7, 0, True), 7, 1, None).up_to_date  # empty folder
    assert plan_folder(FolderState(7, 49, True), 7, 50, None).up_to_date


def test_uidvalidity_change_resets_cursor():
    plan = plan_folder(FolderState(7, 49, True), 8, 3, date(2026, 1, 1))
    assert plan.reset and plan.min_uid == 1 and plan.since == date(2026, 1, 1)


def test_trash_and_junk_skip_history_on_first_sync_only():
    assert plan_folder(FolderState(None, 0, False, "\\Trash"), 1, 9, None).skip_history
    assert plan_folder(FolderState(None, 0, False, "\\Junk"), 1, 9, None).skip_history
    assert not plan_folder(FolderState(1, 8, True, "\\Trash"), 1, 12, None).skip_history
    assert not plan_folder(FolderState(None, 0, False, "\\Sent"), 1, 9, None).skip_history
