/** @odoo-module **/
// The chatter's message list shows Odoo's messages and the record's synced emails,
// merged by date (each list keeps its own order: Odoo's by id, the emails by date).
import { Thread } from "@mail/core/common/thread";
import { patch } from "@web/core/utils/patch";
import { CrmInboxEmailCard } from "./crm_inbox_email";

Thread.components = { ...Thread.components, CrmInboxEmailCard };

/**
 * Merge two lists sorted newest first, comparing dates where they meet.
 * @param {Array} messages Odoo messages, newest first
 * @param {Array} emails synced emails, newest first
 * @returns {Array} newest first
 */
export function mergeNewestFirst(messages, emails) {
    const merged = [];
    let i = 0;
    let j = 0;
    while (i < messages.length || j < emails.length) {
        if (j >= emails.length) {
            merged.push(messages[i++]);
        } else if (i >= messages.length) {
            merged.push(emails[j++]);
        } else if (emails[j].datetime > messages[i].datetime) {
            merged.push(emails[j++]);
        } else {
            merged.push(messages[i++]);
        }
    }
    return merged;
}

patch(Thread.prototype, {
    get orderedMessages() {
        const thread = this.props.thread;
        if (!thread.crmInboxActive || !thread.crmInboxEmails.length) {
            return super.orderedMessages;
        }
        const messages = [...thread.nonEmptyMessages]
            .reverse()
            .filter((message) => thread.crmInboxShowsMessage(message));
        const merged = mergeNewestFirst(messages, [...thread.crmInboxEmails]);
        return this.props.order === "asc" ? merged.reverse() : merged;
    },
});
