/** @odoo-module **/
// The chatter's message search also finds the record's synced emails, at the level
// each account allows: subject, sender and recipients always; the body only of the
// emails the user sees in full (/crm_inbox/chatter/emails with search_term).
import { SearchMessageResult } from "@mail/core/common/search_message_result";
import { Store } from "@mail/core/common/store_service";
import { _t } from "@web/core/l10n/translation";
import { patch } from "@web/core/utils/patch";
import { CrmInboxEmailCard } from "./crm_inbox_email";

patch(Store.prototype, {
    async search(searchTerm, thread, before = false) {
        if (!thread?.crmInboxActive || before) {
            return super.search(...arguments);
        }
        const [result, emails] = await Promise.all([
            super.search(...arguments),
            thread.crmInboxRequest({ search_term: searchTerm, limit: 30 }),
        ]);
        thread.crmInboxSearchEmails = this.CrmInboxEmail.insert(emails.emails);
        thread.crmInboxSearchCount = emails.count || 0;
        return result;
    },
});

SearchMessageResult.components = { ...SearchMessageResult.components, CrmInboxEmailCard };

patch(SearchMessageResult.prototype, {
    get crmInboxEmails() {
        const thread = this.props.thread;
        return thread.crmInboxActive && this.props.messageSearch.searched
            ? thread.crmInboxSearchEmails
            : [];
    },

    get MESSAGE_FOUND() {
        const emails = this.crmInboxEmails.length ? this.props.thread.crmInboxSearchCount : 0;
        if (!emails) {
            return super.MESSAGE_FOUND;
        }
        const messages = this.props.messageSearch.messages.length
            ? this.props.messageSearch.count
            : 0;
        return _t("%(messages)s messages and %(emails)s emails found", { messages, emails });
    },
});
