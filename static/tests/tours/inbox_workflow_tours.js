/** @odoo-module **/
// Chromium tours of the conversation workflow (issue 12): states, snooze, reply reminders,
// the CRM panel. tests/test_inbox_workflow_ui.py sets up the mailbox on a real Dovecot,
// APPENDs the other party's answers between the tours (as another mail client would) and
// checks the server side afterwards.
import { registry } from "@web/core/registry";

const tours = registry.category("web_tour.tours");

function assert(condition, message) {
    if (!condition) {
        throw new Error(`crm_inbox workflow tour: ${message}`);
    }
}

const ROW = ".o_crm_inbox_list .o_crm_inbox_row";
const SUBJECT = "Devis ligne 3";

function openInbox() {
    return [
        {
            content: "The Inbox lists the conversation",
            trigger: `.o_crm_inbox_sidebar .o_crm_inbox_folder.o_active:contains(Inbox)`,
        },
    ];
}

function syncNow() {
    return [
        {
            content: "Sync now (the answer APPENDed to the server arrives)",
            trigger: ".o_crm_inbox_sync:not([disabled])",
            run: "click",
        },
        {
            trigger: ".o_crm_inbox_sync:not([disabled]) .fa-refresh:not(.fa-spin)",
        },
    ];
}

/** Reply from the client: the conversation waits for a reply. */
tours.add("crm_inbox_workflow_reply_tour", {
    steps: () => [
        ...openInbox(),
        {
            content: "Open the conversation: it is open (they wrote last)",
            trigger: `${ROW}:contains(${SUBJECT})`,
            run: "click",
        },
        { trigger: ".o_crm_inbox_thread .o_crm_inbox_state_open" },
        {
            content: "Reply",
            trigger: ".o_crm_inbox_toolbar .o_crm_inbox_reply",
            run: "click",
        },
        {
            trigger: ".o_crm_inbox_composer .o_crm_inbox_reply_text",
            run: "edit Voici le devis pour la ligne 3.",
        },
        {
            trigger: ".o_crm_inbox_composer .o_crm_inbox_send",
            run: "click",
        },
        {
            content: "Queued: Undo is offered during the delay",
            trigger: ".o_crm_inbox_undo_notification button:contains(Undo)",
        },
    ],
});

/** The queue sent the reply and the Sent copy is stored: the conversation waits. */
tours.add("crm_inbox_workflow_waiting_tour", {
    steps: () => [
        ...openInbox(),
        {
            trigger: `${ROW}:contains(${SUBJECT})`,
            run: "click",
        },
        {
            content: "Sent: the conversation waits for their reply",
            trigger: ".o_crm_inbox_thread .o_crm_inbox_state_waiting",
        },
        {
            content: "It is in Waiting for reply",
            trigger: ".o_crm_inbox_sidebar .o_crm_inbox_smart[data-smart=waiting]:contains(1)",
            run: "click",
        },
        {
            trigger: `${ROW}:contains(${SUBJECT}) .o_crm_inbox_row_waiting`,
        },
    ],
});

/** Their answer was APPENDed: after the sync it is open again; then archive = done. */
tours.add("crm_inbox_workflow_answer_tour", {
    steps: () => [
        ...openInbox(),
        ...syncNow(),
        {
            content: "Their answer reopened it: no longer waiting",
            trigger: `${ROW}:contains(${SUBJECT}):not(:has(.o_crm_inbox_row_waiting))`,
            run: "click",
        },
        { trigger: ".o_crm_inbox_thread .o_crm_inbox_state_open" },
        {
            trigger: ".o_crm_inbox_sidebar .o_crm_inbox_smart[data-smart=waiting]:not(:has(.o_crm_inbox_count))",
        },
        {
            content: "Archive (e): done, it leaves the Inbox",
            trigger: ".o_crm_inbox_toolbar .o_crm_inbox_archive",
            run: "click",
        },
        {
            trigger: `.o_crm_inbox_list:not(:has(.o_crm_inbox_row:contains(${SUBJECT})))`,
        },
        {
            content: "It is in Done",
            trigger: ".o_crm_inbox_sidebar .o_crm_inbox_smart[data-smart=done]",
            run: "click",
        },
        { trigger: `${ROW}:contains(${SUBJECT})`, run: "click" },
        { trigger: ".o_crm_inbox_thread .o_crm_inbox_state_done" },
    ],
});

/** A new answer to the done conversation: back in the Inbox after the sync. */
tours.add("crm_inbox_workflow_reopen_tour", {
    steps: () => [
        ...openInbox(),
        {
            trigger: `.o_crm_inbox_list:not(:has(.o_crm_inbox_row:contains(${SUBJECT})))`,
        },
        ...syncNow(),
        {
            content: "Reopened by the answer: back in the Inbox, unread",
            trigger: `${ROW}.o_unread:contains(${SUBJECT})`,
            run: "click",
        },
        { trigger: ".o_crm_inbox_thread .o_crm_inbox_state_open" },
    ],
});

/** Snooze from the toolbar menu: out of the Inbox, in Snoozed. */
tours.add("crm_inbox_workflow_snooze_tour", {
    steps: () => [
        ...openInbox(),
        { trigger: `${ROW}:contains(${SUBJECT})`, run: "click" },
        {
            content: "Open the snooze menu",
            trigger: ".o_crm_inbox_toolbar .o_crm_inbox_snooze",
            run: "click",
        },
        {
            content: "Quick choices: tomorrow morning, next week",
            trigger: ".o_crm_inbox_snooze_menu .o_crm_inbox_snooze_choice[data-choice=next_week]",
        },
        {
            trigger: ".o_crm_inbox_snooze_menu .o_crm_inbox_snooze_choice[data-choice=tomorrow]",
            run: "click",
        },
        {
            content: "It leaves the Inbox",
            trigger: `.o_crm_inbox_list:not(:has(.o_crm_inbox_row:contains(${SUBJECT})))`,
        },
        {
            content: "It is in Snoozed",
            trigger: ".o_crm_inbox_sidebar .o_crm_inbox_smart[data-smart=snoozed]:contains(1)",
            run: "click",
        },
        { trigger: `${ROW}:contains(${SUBJECT}) .o_crm_inbox_row_snoozed` },
    ],
});

/** After the wake-up: back in the Inbox, unread in Odoo; opening it reads it. */
tours.add("crm_inbox_workflow_woken_tour", {
    steps: () => [
        ...openInbox(),
        {
            content: "Back from the snooze: unread in the Inbox",
            trigger: `${ROW}.o_unread:contains(${SUBJECT})`,
            run: "click",
        },
        {
            content: "Opened: read in Odoo after the short delay",
            trigger: `${ROW}.o_selected:not(.o_unread):contains(${SUBJECT})`,
        },
        {
            trigger: ".o_crm_inbox_sidebar .o_crm_inbox_smart[data-smart=snoozed]:not(:has(.o_crm_inbox_count))",
        },
    ],
});

/** "Remind me if no reply by": the reminder is shown on the conversation. */
tours.add("crm_inbox_workflow_remind_tour", {
    steps: () => [
        ...openInbox(),
        { trigger: `${ROW}:contains(${SUBJECT})`, run: "click" },
        {
            trigger: ".o_crm_inbox_toolbar .o_crm_inbox_remind",
            run: "click",
        },
        {
            trigger: ".o_crm_inbox_remind_menu .o_crm_inbox_remind_choice[data-choice='3d']",
            run: "click",
        },
        {
            content: "The reminder is shown",
            trigger: ".o_crm_inbox_thread .o_crm_inbox_state_reminder",
        },
        { trigger: ".o_crm_inbox_toolbar .o_crm_inbox_remind .o_crm_inbox_reminder_label" },
    ],
});

/** After a sync: the reminder is still pending (an out-of-office arrived). */
tours.add("crm_inbox_workflow_remind_pending_tour", {
    steps: () => [
        ...openInbox(),
        ...syncNow(),
        { trigger: `${ROW}:contains(${SUBJECT})`, run: "click" },
        {
            content: "An out-of-office is no answer: still expected",
            trigger: ".o_crm_inbox_thread .o_crm_inbox_message:contains(absente)",
        },
        { trigger: ".o_crm_inbox_thread .o_crm_inbox_state_reminder" },
    ],
});

/** After a sync: the answer completed the reminder. */
tours.add("crm_inbox_workflow_remind_done_tour", {
    steps: () => [
        ...openInbox(),
        ...syncNow(),
        { trigger: `${ROW}:contains(${SUBJECT})`, run: "click" },
        {
            trigger: ".o_crm_inbox_thread .o_crm_inbox_message:contains(Bien reçu)",
        },
        {
            content: "The answer arrived: the reminder is done",
            trigger: ".o_crm_inbox_thread:not(:has(.o_crm_inbox_state_reminder))",
        },
    ],
});

/** The CRM beside the thread: the contact, its lead and the reason; Create lead. */
tours.add("crm_inbox_workflow_crm_panel_tour", {
    steps: () => [
        ...openInbox(),
        { trigger: `${ROW}:contains(${SUBJECT})`, run: "click" },
        {
            content: "The panel shows the sender's contact",
            trigger: ".o_crm_inbox_crm_panel .o_crm_inbox_crm_contact_name:contains(Élodie Durand)",
        },
        {
            content: "Its linked lead and the reason",
            trigger: ".o_crm_inbox_crm_linked .o_crm_inbox_crm_lead:contains(Acme Industries: line 3 retrofit) .o_crm_inbox_crm_reason:contains(elodie.durand@acme-industries.fr is the lead's email)",
        },
        {
            trigger: ".o_crm_inbox_crm_linked .o_crm_inbox_crm_lead .o_crm_inbox_crm_stage",
        },
        {
            content: "A conversation with an unknown company",
            trigger: `${ROW}:contains(Anfrage Sensoren)`,
            run: "click",
        },
        {
            trigger: ".o_crm_inbox_crm_linked:contains(No lead linked)",
        },
        {
            content: "Create lead",
            trigger: ".o_crm_inbox_crm_panel .o_crm_inbox_crm_create_lead",
            run: "click",
        },
        {
            content: "The lead form is prefilled from the conversation",
            trigger: ".modal .o_form_view .o_field_widget[name=name] textarea, .modal .o_form_view .o_field_widget[name=name] input",
            run() {
                const input = document.querySelector(
                    ".modal .o_field_widget[name=name] textarea, .modal .o_field_widget[name=name] input");
                assert(input.value === "Anfrage Sensoren", `name from the subject: ${input.value}`);
            },
        },
        {
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            content: "The new lead is linked, by you",
            trigger: ".o_crm_inbox_crm_linked .o_crm_inbox_crm_lead:contains(Anfrage Sensoren) .o_crm_inbox_crm_reason:contains(Linked by you)",
        },
        {
            trigger: ".o_crm_inbox_thread .o_crm_inbox_badge_lead:contains(Anfrage Sensoren)",
        },
    ],
});
