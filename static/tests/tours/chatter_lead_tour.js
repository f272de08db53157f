/** @odoo-module **/
// The lead's chatter shows its synced emails merged by date with a log note; the body
// of each email is in a sandboxed frame; Reply from the chatter sends through the
// account (tests/test_chatter_ui.py checks aiosmtpd and the next sync).
import { registry } from "@web/core/registry";

const SANDBOX = "allow-same-origin allow-popups allow-popups-to-escape-sandbox";

/** The chatter's items (emails and Odoo messages), top to bottom. */
function chatterItems() {
    return [
        ...document.querySelectorAll(
            ".o-mail-Chatter .o-mail-Thread .o_crm_inbox_chatter_email, " +
                ".o-mail-Chatter .o-mail-Thread .o-mail-Message:not(.o_crm_inbox_chatter_email)"
        ),
    ];
}

function fail(message) {
    throw new Error(message);
}

registry.category("web_tour.tours").add("crm_inbox_chatter_lead_tour", {
    steps: () => [
        {
            content: "The lead's chatter shows its synced emails",
            trigger: ".o-mail-Chatter .o_crm_inbox_chatter_email[data-level=full] .o_crm_inbox_email_subject",
        },
        {
            content: "The log note sits between two emails, newest first",
            trigger: ".o-mail-Chatter .o-mail-Message:contains(Called Sarah about the volumes)",
            run() {
                const items = chatterItems();
                const index = items.findIndex((el) =>
                    el.textContent.includes("Called Sarah about the volumes")
                );
                const before = items[index - 1];
                const after = items[index + 1];
                if (!before?.matches(".o_crm_inbox_chatter_email") ||
                    !after?.matches(".o_crm_inbox_chatter_email")) {
                    fail("the note is not between two emails");
                }
                if (document.querySelector(".o-mail-Thread-empty")) {
                    fail("the chatter says it is empty");
                }
            },
        },
        {
            content: "Each body is in a sandboxed frame with its CSP, never in the page",
            trigger: ".o-mail-Chatter .o_crm_inbox_chatter_email iframe.o_crm_inbox_mail_iframe",
            run() {
                for (const frame of document.querySelectorAll(
                    ".o-mail-Chatter .o_crm_inbox_chatter_email iframe"
                )) {
                    if (frame.getAttribute("sandbox") !== SANDBOX) {
                        fail(`frame sandbox ${frame.getAttribute("sandbox")}`);
                    }
                    if (!frame.getAttribute("srcdoc").includes("default-src 'none'")) {
                        fail("frame without CSP");
                    }
                }
                const card = document.querySelector(".o-mail-Chatter .o_crm_inbox_chatter_email");
                if (!card.querySelector(".o_crm_inbox_email_account")?.textContent.includes("@")) {
                    fail("the mailbox the email came from is not shown");
                }
            },
        },
        {
            content: "Reply to the newest email of the client",
            trigger:
                ".o-mail-Chatter .o_crm_inbox_chatter_email[data-direction=in]:first .o_crm_inbox_email_reply",
            run: "click",
        },
        {
            content: "The crm_inbox composer opens on that email",
            trigger: ".modal div[name=subject] input",
            run: "edit Re: annual supply contract [chatter tour]",
        },
        {
            content: "Send",
            trigger: ".modal button[name=action_send]",
            run: "click",
        },
        {
            content: "The composer closes",
            trigger: "body:not(:has(.modal))",
        },
        // the reply is on Odoo's mail queue now: the test runs the queue, then the next
        // tour finds it in the chatter
    ],
});

registry.category("web_tour.tours").add("crm_inbox_chatter_after_sync_tour", {
    steps: () => [
        {
            content: "After the sync, the reply is in the chatter once",
            trigger: ".o-mail-Chatter .o_crm_inbox_email_subject:contains([chatter tour])",
            run() {
                const found = [...document.querySelectorAll(
                    ".o-mail-Chatter .o_crm_inbox_email_subject"
                )].filter((el) => el.textContent.includes("[chatter tour]"));
                if (found.length !== 1) {
                    fail(`the reply shows ${found.length} times`);
                }
            },
        },
        {
            content: "Search the chatter",
            trigger: ".o-mail-Chatter button[title='Search Messages']",
            run: "click",
        },
        {
            content: "A word of a body",
            trigger: ".o-mail-Chatter .o_searchview_input",
            run: "edit quick",
        },
        {
            content: "Search",
            trigger: ".o-mail-Chatter button[aria-label='Search button']",
            run: "click",
        },
        {
            content: "The owner finds it in the body of an email",
            trigger: ".o-mail-SearchMessageResult .o_crm_inbox_chatter_email[data-level=full]",
        },
    ],
});

registry.category("web_tour.tours").add("crm_inbox_chatter_metadata_tour", {
    steps: () => [
        {
            content: "A colleague at the metadata level sees subjects, participants, dates",
            trigger: ".o-mail-Chatter .o_crm_inbox_chatter_email[data-level=metadata] .o_crm_inbox_email_metadata_only",
        },
        {
            content: "... and the note, but no body, no attachment, no Reply",
            trigger: ".o-mail-Chatter .o-mail-Message:contains(Called Sarah about the volumes)",
            run() {
                const chatter = document.querySelector(".o-mail-Chatter");
                if (chatter.querySelector(".o_crm_inbox_chatter_email iframe, " +
                        ".o_crm_inbox_email_attachments, .o_crm_inbox_email_reply")) {
                    fail("a body, an attachment or Reply shows at the metadata level");
                }
                if (chatter.querySelector(".o_crm_inbox_chatter_email[data-level=full]")) {
                    fail("an email shows in full");
                }
                if (!chatter.querySelector(".o_crm_inbox_email_participants")?.textContent.includes("@")) {
                    fail("participants are missing");
                }
            },
        },
        {
            content: "Search the chatter",
            trigger: ".o-mail-Chatter button[title='Search Messages']",
            run: "click",
        },
        {
            content: "A word of a body only",
            trigger: ".o-mail-Chatter .o_searchview_input",
            run: "edit quick",
        },
        {
            content: "Search",
            trigger: ".o-mail-Chatter button[aria-label='Search button']",
            run: "click",
        },
        {
            content: "The body of a metadata-level email is not searched",
            trigger: ".o-mail-SearchMessageResult p.fst-italic",
            run() {
                if (document.querySelector(".o-mail-SearchMessageResult .o_crm_inbox_chatter_email")) {
                    fail("a body word found a metadata-level email");
                }
            },
        },
        {
            content: "A word of a subject",
            trigger: ".o-mail-Chatter .o_searchview_input",
            run: "edit Offre",
        },
        {
            content: "Search again",
            trigger: ".o-mail-Chatter button[aria-label='Search button']",
            run: "click",
        },
        {
            content: "The subject is searched at the metadata level",
            trigger: ".o-mail-SearchMessageResult .o_crm_inbox_chatter_email[data-level=metadata] .o_crm_inbox_email_subject:contains(Offre)",
        },
    ],
});

registry.category("web_tour.tours").add("crm_inbox_chatter_none_tour", {
    steps: () => [
        {
            content: "A colleague with no visibility sees the note",
            trigger: ".o-mail-Chatter .o-mail-Message:contains(Called Sarah about the volumes)",
        },
        {
            content: "... and no email at all",
            trigger: ".o-mail-Chatter .o-mail-Thread",
            run() {
                if (document.querySelector(".o_crm_inbox_chatter_email")) {
                    fail("an email shows at the level none");
                }
            },
        },
    ],
});
