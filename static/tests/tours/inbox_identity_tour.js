/** @odoo-module **/
// Send-as identities in the reply box (tests/test_identities.py, TestIdentitiesUi): the
// box offers the account's addresses, a reply to mail sent to sales@ starts From sales@,
// the user switches to support@ (its signature follows); the draft, saved as they type,
// comes back after a reload with that From; they send.
import { registry } from "@web/core/registry";
import { rpc } from "@web/core/network/rpc";

function call(model, method, args) {
    return rpc(`/web/dataset/call_kw/${model}/${method}`, { model, method, args, kwargs: {} });
}

const ROW = ".o_crm_inbox_list .o_crm_inbox_row";
const PICKER = ".o_crm_inbox_composer select.o_crm_inbox_identity_picker";

registry.category("web_tour.tours").add("crm_inbox_identity_tour", {
    url: "/odoo/crm-inbox",
    steps: () => [
        {
            content: "Open the mail sent to sales@",
            trigger: `${ROW}:contains(Quote request)`,
            run: "click",
        },
        {
            content: "Reply",
            trigger: ".o_crm_inbox_toolbar .o_crm_inbox_reply",
            run: "click",
        },
        {
            content: "The box offers the account's address and both Send-as identities",
            trigger: `${PICKER}:has(option:contains(Example Support <support@team.example>))`,
            run() {
                const options = [...document.querySelectorAll(`${PICKER} option`)];
                if (options.length !== 3) {
                    throw new Error(`3 From addresses expected, got ${options.length}`);
                }
            },
        },
        {
            content: "The reply starts From the address the mail was sent to, with its signature",
            trigger: `${PICKER}:has(option:selected:contains(sales@team.example))`,
        },
        {
            trigger: ".o_crm_inbox_composer .o_crm_inbox_signature_preview:contains(The Sales Desk)",
        },
        {
            content: "Switch to support@",
            trigger: PICKER,
            run() {
                const select = document.querySelector(PICKER);
                const option = [...select.options].find((o) =>
                    o.textContent.includes("support@team.example")
                );
                select.value = option.value;
                select.dispatchEvent(new Event("change", { bubbles: true }));
            },
        },
        {
            content: "Its signature replaces the Sales one",
            trigger: ".o_crm_inbox_composer .o_crm_inbox_signature_preview:contains(The Support Desk):not(:contains(Sales))",
        },
        {
            trigger: ".o_crm_inbox_composer .o_crm_inbox_reply_text",
            run: "edit Here is your quote.",
        },
        {
            content: "The draft is saved with its From (autosave)",
            trigger: ".o_crm_inbox_composer",
            async run() {
                const [conversation] = await call("crm.inbox.conversation", "search_read", [
                    [["name", "=", "Quote request"]], ["id"],
                ]);
                const [support] = await call("crm.inbox.identity", "search_read", [
                    [["email", "=", "support@team.example"]], ["id"],
                ]);
                const deadline = Date.now() + 20000;
                for (;;) {
                    const saved = await call("crm.inbox.draft", "inbox_load_draft", [
                        conversation.id,
                    ]);
                    if (saved?.identity_id === support.id && saved.text.includes("quote")) {
                        return;
                    }
                    if (Date.now() > deadline) {
                        throw new Error(`draft not saved with its From: ${JSON.stringify(saved)}`);
                    }
                    await new Promise((resolve) => setTimeout(resolve, 250));
                }
            },
        },
        {
            content: "Reload: the draft now comes from the server",
            trigger: ".o_crm_inbox_composer",
            run() {
                location.reload();
            },
        },
        {
            trigger: `${ROW}:contains(Quote request)`,
            run: "click",
        },
        {
            trigger: ".o_crm_inbox_toolbar .o_crm_inbox_reply",
            run: "click",
        },
        {
            content: "The saved From is back, with its signature and the text",
            trigger: `${PICKER}:has(option:selected:contains(support@team.example))`,
        },
        {
            trigger: ".o_crm_inbox_composer .o_crm_inbox_signature_preview:contains(The Support Desk)",
            run() {
                const text = document.querySelector(".o_crm_inbox_composer .o_crm_inbox_reply_text");
                if (!text.value.includes("Here is your quote.")) {
                    throw new Error(`the draft's text is lost: ${text.value}`);
                }
            },
        },
        {
            content: "Send",
            trigger: ".o_crm_inbox_composer .o_crm_inbox_send",
            run: "click",
        },
        {
            content: "Queued: Undo is offered during the delay",
            trigger: ".o_crm_inbox_undo_notification button:contains(Undo)",
        },
    ],
});
