/** @odoo-module **/
// A paused mailbox (authentication failed) shows a banner on the Inbox; Re-connect opens
// the setup wizard on the password step.
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("crm_inbox_reconnect_tour", {
    url: "/odoo/action-crm_inbox.crm_inbox_conversation_action",
    steps: () => [
        {
            content: "The Inbox shows the paused mailbox",
            trigger: ".o_crm_inbox_paused:contains(paused@local.test)",
        },
        {
            content: "Re-connect",
            trigger: ".o_crm_inbox_paused .o_crm_inbox_reconnect",
            run: "click",
        },
        {
            content: "The wizard opens on the password step",
            trigger: '.modal .o_crm_inbox_setup_auth div[name="password"] input',
        },
    ],
});
