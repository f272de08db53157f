/** @odoo-module **/
// Collision warning in the mail client (tests/test_collision.py, TestCollisionUi): the
// colleague, in a second Chromium, has the conversation open; the user sees them reading
// it, then writing a reply (they start one once they see the user: the test drives that
// browser); then a Send after newer mail arrived asks for a review first. No websocket
// under HttpCase: presence changes arrive with the 30 s ping, hence the long timeout.
import { registry } from "@web/core/registry";
import { rpc } from "@web/core/network/rpc";

const ROW = ".o_crm_inbox_list .o_crm_inbox_row";

/** Steps waiting up to 115 s for *selector* (a tour step times out after 60 s at most). */
function waitLong(selector, content) {
    return [
        {
            content: `${content} (first minute)`,
            trigger: "body",
            timeout: 60000,
            async run() {
                const deadline = Date.now() + 55000;
                while (!document.querySelector(selector) && Date.now() < deadline) {
                    await new Promise((resolve) => setTimeout(resolve, 250));
                }
            },
        },
        { content, trigger: selector, timeout: 60000 },
    ];
}

registry.category("web_tour.tours").add("crm_inbox_collision_tour", {
    url: "/odoo/crm-inbox",
    steps: () => [
        {
            content: "Open the shared conversation",
            trigger: `${ROW}:contains(Order 1)`,
            run: "click",
        },
        {
            content: "The colleague reading it is shown",
            trigger: ".o_crm_inbox_viewers .o_crm_inbox_viewer[title*='Cole League']",
        },
        {
            content: "Reply",
            trigger: ".o_crm_inbox_toolbar .o_crm_inbox_reply",
            run: "click",
        },
        {
            trigger: ".o_crm_inbox_composer .o_crm_inbox_reply_text",
            run: "edit Yes, confirmed.",
        },
        // the colleague starts a reply too: shown at the next presence ping, after up to
        // two pings (30 s each), longer than a step may last (60 s): two steps
        ...waitLong(
            ".o_crm_inbox_viewers .o_crm_inbox_viewer[title='Cole League is writing a reply']",
            "The colleague's reply is shown"
        ),
        {
            content: "Meanwhile the customer writes again (a sync stores it)",
            trigger: ".o_crm_inbox_composer",
            async run() {
                const [account] = await rpc("/web/dataset/call_kw/crm.inbox.account/search_read", {
                    model: "crm.inbox.account", method: "search_read",
                    args: [[["name", "=", "Team mailbox"]], ["id"]], kwargs: {},
                });
                await rpc("/web/dataset/call_kw/crm.inbox.account/action_sync_now", {
                    model: "crm.inbox.account", method: "action_sync_now",
                    args: [[account.id]], kwargs: {},
                });
            },
        },
        {
            content: "Send",
            trigger: ".o_crm_inbox_composer .o_crm_inbox_send",
            run: "click",
        },
        {
            content: "A review is asked first, naming the new email",
            trigger: ".modal:contains(New in this conversation):contains(One more thing)",
        },
        {
            content: "Review first",
            trigger: ".modal .modal-footer button:contains(Review first)",
            run: "click",
        },
        {
            content: "The new email is in the thread, unfolded",
            trigger: ".o_crm_inbox_message.o_expanded:contains(One more thing)",
        },
        {
            content: "Send again: it goes",
            trigger: ".o_crm_inbox_composer .o_crm_inbox_send",
            run: "click",
        },
        {
            content: "It is queued: Undo is offered during the delay",
            trigger: ".o_crm_inbox_undo_notification button:contains(Undo)",
        },
    ],
});
