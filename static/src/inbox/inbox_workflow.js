/** @odoo-module **/
// What still needs the salesperson (issue 12): the Snooze and "Remind me if no reply by"
// menus of the reading pane, and the dialog that picks a date for either.
//
// Both write through crm.inbox.conversation.inbox_workflow (Odoo-side only: a snooze never
// touches the server's \Seen flag). Times are chosen in the user's time zone and sent in
// UTC ("YYYY-MM-DD HH:MM:SS"); reminder days as "YYYY-MM-DD".
import { Component, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { useService } from "@web/core/utils/hooks";
import { Dialog } from "@web/core/dialog/dialog";
import { Dropdown } from "@web/core/dropdown/dropdown";
import { DropdownItem } from "@web/core/dropdown/dropdown_item";
import { DateTimePicker } from "@web/core/datetime/datetime_picker";
import { serializeDate, serializeDateTime } from "@web/core/l10n/dates";
import { parseUtc } from "./inbox_utils";

const { DateTime } = luxon;

/**
 * The quick snooze choices, as Gmail offers them: later today (in three hours, on the
 * hour, while it is still today), tomorrow morning (8:00), next week (Monday 8:00).
 * @param {luxon.DateTime} [now] local time
 * @returns {{key: string, label: string, when: luxon.DateTime}[]}
 */
export function snoozeChoices(now = DateTime.local()) {
    const choices = [];
    const later = now.plus({ hours: 3 }).startOf("hour");
    if (later.hasSame(now, "day")) {
        choices.push({ key: "later", label: _t("Later today"), when: later });
    }
    choices.push({
        key: "tomorrow",
        label: _t("Tomorrow morning"),
        when: now.plus({ days: 1 }).set({ hour: 8, minute: 0, second: 0, millisecond: 0 }),
    });
    choices.push({
        key: "next_week",
        label: _t("Next week"),
        when: now.plus({ weeks: 1 }).startOf("week").set({ hour: 8 }),
    });
    return choices;
}

/**
 * The quick reminder days: in two days, in three days, in a week.
 * @param {luxon.DateTime} [now]
 */
export function reminderChoices(now = DateTime.local()) {
    return [
        { key: "2d", label: _t("In 2 days"), when: now.plus({ days: 2 }).startOf("day") },
        { key: "3d", label: _t("In 3 days"), when: now.plus({ days: 3 }).startOf("day") },
        { key: "1w", label: _t("In a week"), when: now.plus({ weeks: 1 }).startOf("day") },
    ];
}

/** A local date and time as the menus show it ("Thu 8:00 AM", "Dec 9, 8:00 AM"). */
export function whenLabel(when, now = DateTime.local()) {
    if (!when) {
        return "";
    }
    if (when.hasSame(now, "day")) {
        return when.toLocaleString(DateTime.TIME_SIMPLE);
    }
    if (when < now.plus({ days: 6 })) {
        return `${when.toLocaleString({ weekday: "short" })} ${when.toLocaleString(
            DateTime.TIME_SIMPLE
        )}`;
    }
    return when.toLocaleString({ month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
}

export class InboxPickDateDialog extends Component {
    static template = "crm_inbox.InboxPickDateDialog";
    static components = { Dialog, DateTimePicker };
    static props = {
        title: String,
        type: { type: String, optional: true }, // "datetime" (snooze) or "date" (reminder)
        confirmLabel: String,
        onConfirm: Function,
        close: Function,
    };

    setup() {
        const type = this.props.type || "datetime";
        const start = type === "date" ? DateTime.local().plus({ days: 3 }).startOf("day") :
            DateTime.local().plus({ days: 1 }).set({ hour: 8, minute: 0, second: 0, millisecond: 0 });
        this.state = useState({ value: start });
        this.minDate = DateTime.local().startOf("day");
    }

    get type() {
        return this.props.type || "datetime";
    }

    async confirm() {
        await this.props.onConfirm(this.state.value);
        this.props.close();
    }
}

/** The Snooze button and menu of a conversation (or of the checked ones). */
export class InboxSnoozeMenu extends Component {
    static template = "crm_inbox.InboxSnoozeMenu";
    static components = { Dropdown, DropdownItem };
    static props = {
        snoozedUntil: { type: [String, Boolean], optional: true },
        onSnooze: Function, // (utc "YYYY-MM-DD HH:MM:SS" | false) => Promise
        state: { type: Object, optional: true },
    };

    setup() {
        this.dialog = useService("dialog");
        this.whenLabel = whenLabel;
    }

    get choices() {
        return snoozeChoices();
    }

    get snoozedLabel() {
        return whenLabel(parseUtc(this.props.snoozedUntil));
    }

    snooze(when) {
        return this.props.onSnooze(serializeDateTime(when));
    }

    pick() {
        this.dialog.add(InboxPickDateDialog, {
            title: _t("Snooze until"),
            type: "datetime",
            confirmLabel: _t("Snooze"),
            onConfirm: (when) => this.snooze(when),
        });
    }
}

/** The "Remind me if no reply by" button and menu. */
export class InboxRemindMenu extends Component {
    static template = "crm_inbox.InboxRemindMenu";
    static components = { Dropdown, DropdownItem };
    static props = {
        reminder: { type: [Object, Boolean], optional: true },
        onRemind: Function, // ("YYYY-MM-DD" | false) => Promise
    };

    setup() {
        this.dialog = useService("dialog");
    }

    get choices() {
        return reminderChoices();
    }

    get reminderLabel() {
        const day = this.props.reminder?.date_deadline;
        return day ? DateTime.fromISO(day).toLocaleString({ month: "short", day: "numeric" }) : "";
    }

    dayLabel(when) {
        return when.toLocaleString({ weekday: "short", month: "short", day: "numeric" });
    }

    remind(when) {
        return this.props.onRemind(serializeDate(when));
    }

    pick() {
        this.dialog.add(InboxPickDateDialog, {
            title: _t("Remind me if no reply by"),
            type: "date",
            confirmLabel: _t("Set reminder"),
            onConfirm: (when) => this.remind(when),
        });
    }
}
