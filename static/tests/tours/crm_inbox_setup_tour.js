/** @odoo-module **/
// The setup wizard from the Inbox menu (no mailbox yet) to the first synced message.
// tests/test_ui.py serves the domain's autoconfig file, DNS, Dovecot and SMTP locally.
import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

registry.category("web_tour.tours").add("crm_inbox_setup_tour", {
    url: "/odoo",
    steps: () => [
        stepUtils.showAppsMenuItem(),
        {
            content: "Open the Inbox: no mailbox yet, so the setup wizard opens",
            trigger: '.o_app[data-menu-xmlid="crm_inbox.crm_inbox_menu_root"]',
            run: "click",
        },
        {
            content: "Step 1: the address is prefilled with the user's own",
            trigger: '.modal .o_crm_inbox_setup_email div[name="email"] input',
            run() {
                if (!this.anchor.value.endsWith("@local.test")) {
                    throw new Error(`unexpected prefilled address ${this.anchor.value}`);
                }
            },
        },
        {
            trigger: '.modal .modal-footer button[name="action_detect"]',
            run: "click",
        },
        {
            content: "Step 2: what was found, and where",
            trigger: ".modal .o_crm_inbox_setup_detected:contains(autoconfig):contains(Local Mail)",
        },
        {
            trigger: '.modal .o_crm_inbox_setup_auth div[name="password"] input',
            run: "edit tour-secret",
        },
        {
            trigger: '.modal .modal-footer button[name="action_connect"]',
            run: "click",
        },
        {
            content: "Step 3: connected, pick the folders",
            trigger: ".modal .o_crm_inbox_setup_folders .o_data_row:contains(Inbox)",
        },
        {
            trigger: '.modal .modal-footer button[name="action_finish"]',
            run: "click",
        },
        {
            content: "The first synced message is in the Inbox",
            trigger: ".o_list_view .o_data_row:contains(Welcome to your CRM inbox)",
        },
    ],
});
