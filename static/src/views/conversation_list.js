/** @odoo-module **/
// Conversations list with a banner for the user's paused mailboxes (authentication failed):
// the Inbox tells its owner at once, with a Re-connect button that opens the right step.
import { onWillStart, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { listView } from "@web/views/list/list_view";
import { ListController } from "@web/views/list/list_controller";
import { user } from "@web/core/user";

export class CrmInboxConversationListController extends ListController {
    static template = "crm_inbox.ConversationListView";

    setup() {
        super.setup();
        this.orm = useService("orm");
        this.paused = useState({ accounts: [] });
        onWillStart(async () => {
            this.paused.accounts = await this.orm.searchRead(
                "crm.inbox.account",
                [["state", "=", "auth_failed"], ["user_id", "=", user.userId]],
                ["name", "email", "last_error"]
            );
        });
    }

    async onReconnect(accountId) {
        // the button path (/web/dataset/call_button) cleans the returned action for the client
        await this.actionService.doActionButton({
            type: "object",
            name: "action_reconnect",
            resModel: "crm.inbox.account",
            resId: accountId,
            resIds: [accountId],
        });
    }
}

registry.category("views").add("crm_inbox_conversation_list", {
    ...listView,
    Controller: CrmInboxConversationListController,
});
