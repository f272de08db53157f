/** @odoo-module **/
// Chromium tours of the CRM Inbox mail client (tests/test_inbox_client_ui.py sets up the
// mailbox on a real Dovecot and checks the server side afterwards).
import { registry } from "@web/core/registry";
import { rpc } from "@web/core/network/rpc";

const tours = registry.category("web_tour.tours");

function assert(condition, message) {
    if (!condition) {
        throw new Error(`crm_inbox tour: ${message}`);
    }
}

const ROW = ".o_crm_inbox_list .o_crm_inbox_row";

/** From the app menu: three panes, a thread stacked, folded, the URL, the inline reply. */
tours.add("crm_inbox_client_tour", {
    url: "/odoo",
    steps: () => [
        {
            content: "Open the app menu",
            trigger: ".o_navbar_apps_menu button",
            run: "click",
        },
        {
            content: "The app is CRM Inbox (not Discuss's Inbox)",
            trigger: ".o_app[data-menu-xmlid='crm_inbox.crm_inbox_menu_root']:contains(CRM Inbox)",
            run: "click",
        },
        {
            content: "Three panes: folders, conversations, reading pane",
            trigger: ".o_crm_inbox_sidebar .o_crm_inbox_folder.o_active:contains(Inbox)",
            run() {
                assert(document.querySelector(".o_main_navbar .o_menu_brand").textContent
                    .includes("CRM Inbox"), "the app is named CRM Inbox");
            },
        },
        {
            content: "The list shows the other party, not our own address",
            trigger: `${ROW}:contains(Lucía Fernández, me):contains((3))`,
        },
        {
            trigger: ".o_crm_inbox_reading .o_crm_inbox_reading_empty",
        },
        {
            content: "Open the thread",
            trigger: `${ROW}:contains(Pedido 289)`,
            run: "click",
        },
        {
            content: "Its messages are stacked in the reading pane; the list stays",
            trigger: ".o_crm_inbox_thread .o_crm_inbox_messages .o_crm_inbox_message:nth-child(3).o_expanded",
            run() {
                const messages = [...document.querySelectorAll(".o_crm_inbox_message")];
                assert(messages.length === 3, `3 messages, got ${messages.length}`);
                assert(messages[0].classList.contains("o_collapsed"), "the oldest is collapsed");
                assert(messages[1].classList.contains("o_collapsed"), "the second is collapsed");
                const tops = messages.map((m) => m.getBoundingClientRect().top);
                assert(tops[0] < tops[1] && tops[1] < tops[2], "stacked vertically, in date order");
                const lefts = new Set(messages.map((m) => Math.round(m.getBoundingClientRect().left)));
                assert(lefts.size === 1, "one column");
                assert(document.querySelector(`${ROW}.o_selected`), "the list is still on screen");
                assert(/\/crm-inbox\/\d+/.test(window.location.pathname),
                    `the URL keeps the conversation: ${window.location.pathname}`);
            },
        },
        {
            content: "Plain text in the UI font, quoted history folded",
            trigger: ".o_crm_inbox_message.o_expanded .o_crm_inbox_text:contains(Muchas gracias)",
            run() {
                const open = document.querySelector(".o_crm_inbox_message.o_expanded");
                assert(!open.querySelector(".o_crm_inbox_quoted"), "quoted text folded");
                assert(!open.querySelector(".o_crm_inbox_text").textContent.includes("> Dear"),
                    "the quote is not in the main text");
                const font = getComputedStyle(open.querySelector(".o_crm_inbox_text")).fontFamily;
                assert(!/monospace/i.test(font), `not monospace: ${font}`);
            },
        },
        {
            content: "Unfold the quoted history",
            trigger: ".o_crm_inbox_message.o_expanded .o_crm_inbox_quote_toggle",
            run: "click",
        },
        {
            trigger: ".o_crm_inbox_message.o_expanded .o_crm_inbox_quoted:contains(Delivery is planned)",
        },
        {
            content: "A collapsed message opens on click",
            trigger: ".o_crm_inbox_message.o_collapsed .o_crm_inbox_message_line:contains(Buenos días)",
            run: "click",
        },
        {
            trigger: ".o_crm_inbox_message:first-child.o_expanded",
        },
        {
            content: "The PDF attachment is a chip that opens Odoo's file viewer",
            trigger: ".o_crm_inbox_attachment:contains(pedido-289.pdf)",
            run: "click",
        },
        {
            trigger: ".o-FileViewer .o-FileViewer-header:contains(pedido-289.pdf)",
        },
        {
            trigger: ".o-FileViewer .o-FileViewer-headerButton[aria-label=Close]",
            run: "click",
        },
        {
            trigger: "body:not(:has(.o-FileViewer))",
        },
        {
            content: "The address of a known contact links to it",
            trigger: ".o_crm_inbox_message.o_expanded a.o_crm_inbox_contact:contains(Lucía Fernández)",
        },
        {
            content: "Reply inline",
            trigger: ".o_crm_inbox_toolbar .o_crm_inbox_reply",
            run: "click",
        },
        {
            content: "The reply box is at the foot of the thread, with the recipient",
            trigger: ".o_crm_inbox_composer .o_crm_inbox_to",
            run() {
                const to = document.querySelector(".o_crm_inbox_composer .o_crm_inbox_to").value;
                assert(to.includes("lucia@iberica.example"), `To: ${to}`);
            },
        },
        {
            content: "The signature appears once",
            trigger: ".o_crm_inbox_composer .o_crm_inbox_signature_preview:contains(Sam Sales)",
            run() {
                const text = document.querySelector(".o_crm_inbox_composer").innerText;
                assert((text.match(/^--/gm) || []).length <= 1, `one signature separator: ${text}`);
            },
        },
        {
            content: "Drop a file on the reply box",
            trigger: ".o_crm_inbox_composer",
            async run() {
                const data = new DataTransfer();
                data.items.add(new File(["Delivery notes: Monday 7"], "delivery-notes.txt",
                    { type: "text/plain" }));
                const composer = document.querySelector(".o_crm_inbox_composer");
                composer.dispatchEvent(new DragEvent("dragenter", { bubbles: true, dataTransfer: data }));
                await new Promise((resolve) => setTimeout(resolve, 100));
                const zone = document.querySelector(".o-Dropzone");
                assert(zone, "the drop zone shows while dragging a file");
                zone.dispatchEvent(new DragEvent("drop", { bubbles: true, dataTransfer: data }));
            },
        },
        {
            trigger: ".o_crm_inbox_reply_attachment:contains(delivery-notes.txt):not(:has(.fa-spinner))",
        },
        {
            trigger: ".o_crm_inbox_composer .o_crm_inbox_reply_text",
            run: "edit Gracias Lucía, la entrega es el lunes 7.",
        },
        {
            content: "Ctrl+Enter sends",
            trigger: ".o_crm_inbox_composer .o_crm_inbox_reply_text",
            run: "press ctrl+Enter",
        },
        {
            content: "Undo is offered while the mail waits in the outbox",
            trigger: ".o_crm_inbox_undo_notification button:contains(Undo)",
        },
        {
            trigger: ".o_crm_inbox_outbox_item.o_scheduled:contains(Re: Pedido 289)",
        },
        {
            content: "Undo: nothing is sent, the draft comes back",
            trigger: ".o_crm_inbox_undo_notification button:contains(Undo)",
            run: "click",
        },
        {
            trigger: ".o_crm_inbox_composer .o_crm_inbox_reply_attachment:contains(delivery-notes.txt)",
        },
        {
            trigger: ".o_crm_inbox_thread:not(:has(.o_crm_inbox_outbox_item))",
        },
        {
            content: "The text is back",
            trigger: ".o_crm_inbox_composer .o_crm_inbox_reply_text",
            run() {
                const text = document.querySelector(".o_crm_inbox_composer .o_crm_inbox_reply_text");
                assert(text.value.includes("la entrega es el lunes 7"), text.value);
            },
        },
        {
            content: "Send again",
            trigger: ".o_crm_inbox_composer .o_crm_inbox_send",
            run: "click",
        },
        {
            content: "It waits in the outbox (the queue sends it after the delay)",
            trigger: ".o_crm_inbox_outbox_item.o_scheduled:contains(Re: Pedido 289)",
        },
        {
            trigger: ".o_crm_inbox_reply_stub",
        },
    ],
});

/** Every action from its shortcut; nothing fires while typing. */
tours.add("crm_inbox_client_keys_tour", {
    url: "/odoo/crm-inbox",
    steps: () => [
        {
            trigger: `${ROW}:contains(Pedido 289)`,
        },
        {
            content: "? lists the shortcuts",
            trigger: ".o_crm_inbox_client",
            run: "press ?",
        },
        {
            trigger: ".modal .o_crm_inbox_shortcuts:contains(Reply all)",
        },
        {
            trigger: ".modal .btn-primary:contains(Close)",
            run: "click",
        },
        {
            content: "j selects the first conversation (newest first)",
            trigger: "body:not(:has(.modal))",
            run: "press j",
        },
        {
            trigger: `${ROW}.o_selected:contains(Pedido 289)`,
        },
        {
            content: "j again: the next one opens in the reading pane",
            trigger: ".o_crm_inbox_thread_subject:contains(Pedido 289)",
            run: "press j",
        },
        {
            trigger: ".o_crm_inbox_thread_subject:contains(Facture n° 1182)",
        },
        {
            content: "k goes back",
            trigger: `${ROW}.o_selected:contains(Facture)`,
            run: "press k",
        },
        {
            trigger: ".o_crm_inbox_thread_subject:contains(Pedido 289)",
        },
        {
            trigger: `${ROW}.o_selected:contains(Pedido 289)`,
            run: "press j",
        },
        {
            content: "s flags",
            trigger: ".o_crm_inbox_thread_subject:contains(Facture n° 1182)",
            run: "press s",
        },
        {
            trigger: `${ROW}.o_selected:contains(Facture) .o_crm_inbox_flagged`,
        },
        {
            content: "Opened, it is marked read after a short delay",
            trigger: `${ROW}.o_selected:not(.o_unread):contains(Facture)`,
            run: "press u",
        },
        {
            content: "u marks it unread again (and it stays unread)",
            trigger: `${ROW}.o_selected.o_unread:contains(Facture)`,
        },
        {
            content: "Typing in the search box fires no shortcut",
            trigger: ".o_crm_inbox_search_input",
            run: "press /",
        },
        {
            trigger: ".o_crm_inbox_search_input:focus",
            run: "edit Neuseeland",
        },
        {
            content: "Search by body text",
            trigger: ".o_crm_inbox_search_input",
            run: "press Enter",
        },
        {
            // the search's answer, not the list before it (both show Rechnung 4471)
            trigger: ".o_crm_inbox_list_head:has(.o_crm_inbox_total:contains(1 conversations)) + .o_crm_inbox_list .o_crm_inbox_row:contains(Rechnung 4471)",
            run() {
                assert(document.querySelectorAll(ROW).length === 1, "one result");
                assert(document.querySelector(".o_crm_inbox_thread_subject").textContent
                    .includes("Facture"), "e, s, u did not fire while typing");
            },
        },
        {
            trigger: ".o_crm_inbox_search_input",
            run: "clear",
        },
        {
            trigger: ".o_crm_inbox_search_input",
            run: "press Enter",
        },
        {
            trigger: `${ROW}:contains(Pedido 289)`,
            run() {
                document.activeElement.blur();
            },
        },
        {
            content: "e archives (Facture leaves the Inbox)",
            trigger: `${ROW}.o_selected:contains(Facture)`,
            run: "press e",
        },
        {
            trigger: `.o_crm_inbox_list:not(:has(.o_crm_inbox_row:contains(Facture)))`,
        },
        {
            content: "the next conversation is selected",
            trigger: `${ROW}.o_selected:contains(Rechnung)`,
        },
        {
            content: "v opens Move; choose Junk",
            trigger: ".o_crm_inbox_thread_subject:contains(Rechnung)",
            run: "press v",
        },
        {
            trigger: ".o_crm_inbox_move_menu .o_crm_inbox_move_to:contains(Junk)",
            run: "click",
        },
        {
            trigger: `.o_crm_inbox_list:not(:has(.o_crm_inbox_row:contains(Rechnung)))`,
        },
        {
            content: "# deletes",
            trigger: ".o_crm_inbox_thread_subject:contains(Angebot)",
            run: "press #",
        },
        {
            trigger: `.o_crm_inbox_list:not(:has(.o_crm_inbox_row:contains(Angebot)))`,
        },
        {
            content: "i opens Assign; assign to the colleague",
            trigger: `${ROW}.o_selected:contains(Muestra)`,
            run: "press i",
        },
        {
            trigger: ".o_crm_inbox_assign_menu .o_crm_inbox_assign_to:contains(Cole League)",
            run: "click",
        },
        {
            trigger: ".o_crm_inbox_toolbar .o_crm_inbox_assign:contains(Cole League)",
        },
        {
            trigger: `${ROW}.o_selected:contains(Muestra) img.o_crm_inbox_assignee`,
        },
        {
            content: "r opens the reply box; typing r or e in it fires nothing",
            trigger: `${ROW}.o_selected`,
            run: "press r",
        },
        {
            trigger: ".o_crm_inbox_composer .o_crm_inbox_reply_text:focus",
            run: "press e",
        },
        {
            trigger: ".o_crm_inbox_composer .o_crm_inbox_reply_text",
            run: "press Escape",
        },
        {
            content: "Esc collapses, the draft is kept",
            trigger: ".o_crm_inbox_reply_stub:contains(Draft)",
        },
        {
            content: "a switches the box to Reply all",
            trigger: ".o_crm_inbox_client",
            run: "press a",
        },
        {
            trigger: ".o_crm_inbox_modes .btn-primary[data-mode=reply_all]",
            run: "press Escape",
        },
        {
            content: "f: Forward",
            trigger: ".o_crm_inbox_reply_stub",
            run: "press f",
        },
        {
            trigger: ".o_crm_inbox_modes .btn-primary[data-mode=forward]",
        },
        {
            content: "Buttons too: flag from the toolbar",
            trigger: ".o_crm_inbox_toolbar .o_crm_inbox_toggle_flag",
            run: "click",
        },
        {
            trigger: `${ROW}.o_selected .o_crm_inbox_flagged`,
        },
        {
            content: "Bulk: select two conversations, flag both",
            trigger: `${ROW}:contains(Pedido 289) .o_crm_inbox_check`,
            run: "click",
        },
        {
            trigger: `${ROW}.o_checked:contains(Pedido 289)`,
        },
        {
            trigger: `${ROW}:contains(Muestra) .o_crm_inbox_check`,
            run: "click",
        },
        {
            trigger: ".o_crm_inbox_list_head:contains(2 selected) .o_crm_inbox_bulk_flag",
            run: "click",
        },
        {
            trigger: `${ROW}:contains(Pedido 289) .o_crm_inbox_flagged`,
        },
        {
            trigger: ".o_crm_inbox_list_head:not(:contains(selected))",
        },
    ],
});

/** Mail synced while the client is open appears without a reload (bus). */
tours.add("crm_inbox_client_live_tour", {
    url: "/odoo/crm-inbox",
    steps: () => [
        {
            trigger: `${ROW}:contains(Pedido 289)`,
            run: "click",
        },
        {
            trigger: ".o_crm_inbox_thread_subject:contains(Pedido 289)",
            async run() {
                window.__crmInboxNoReload = true;
                assert(![...document.querySelectorAll(ROW)].some((r) =>
                    r.textContent.includes("新しい注文")), "not there yet");
                // the server syncs (as its cron does), outside the client
                const sidebar = await rpc("/web/dataset/call_kw/crm.inbox.conversation/inbox_sidebar", {
                    model: "crm.inbox.conversation", method: "inbox_sidebar", args: [], kwargs: {},
                });
                await rpc("/web/dataset/call_kw/crm.inbox.account/action_sync_now", {
                    model: "crm.inbox.account", method: "action_sync_now",
                    args: [[sidebar.accounts[0].id]], kwargs: {},
                });
            },
        },
        {
            content: "The new conversation appears at the top, the selection is kept",
            trigger: `${ROW}:first-child.o_unread:contains(新しい注文)`,
            run() {
                assert(window.__crmInboxNoReload, "no page reload");
                assert(document.querySelector(`${ROW}.o_selected`).textContent.includes("Pedido 289"),
                    "selection kept");
            },
        },
        {
            content: "Unread counts follow",
            trigger: ".o_crm_inbox_sidebar .o_crm_inbox_folder.o_active .o_crm_inbox_count",
        },
    ],
});

/** A reload (or a shared link) reopens the conversation; a phone shows list, then thread. */
tours.add("crm_inbox_client_mobile_tour", {
    url: "/odoo/crm-inbox",
    steps: () => [
        {
            content: "On a phone: the list alone",
            trigger: `${ROW}:contains(Pedido 289)`,
            run() {
                assert(!document.querySelector(".o_crm_inbox_sidebar"), "no sidebar pane");
                assert(!document.querySelector(".o_crm_inbox_reading"), "no reading pane yet");
            },
        },
        {
            trigger: `${ROW}:contains(Pedido 289)`,
            run: "click",
        },
        {
            content: "then the thread alone, with a way back",
            trigger: ".o_crm_inbox_thread .o_crm_inbox_message.o_expanded",
            run() {
                assert(!document.querySelector(".o_crm_inbox_list"), "the list gave way");
                const width = document.querySelector(".o_crm_inbox_message").getBoundingClientRect().width;
                assert(width <= window.innerWidth, "fits the screen");
            },
        },
        {
            trigger: ".o_crm_inbox_back",
            run: "click",
        },
        {
            trigger: `${ROW}.o_selected:contains(Pedido 289)`,
        },
    ],
});

tours.add("crm_inbox_client_url_tour", {
    steps: () => [
        {
            content: "The link opened the conversation",
            trigger: ".o_crm_inbox_thread_subject:contains(Pedido 289)",
        },
        {
            trigger: `${ROW}.o_selected:contains(Pedido 289)`,
        },
    ],
});
