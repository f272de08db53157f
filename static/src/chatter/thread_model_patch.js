/** @odoo-module **/
// The chatter of a contact or lead fetches, beside Odoo's messages, the synced emails
// of the record (/crm_inbox/chatter/emails, the level-checked read path), and pages
// both by date without a gap or a duplicate:
//
// - Odoo pages its messages by id (newest first); after each page of messages, the
//   emails older than the oldest email held (keyset cursor [date, id]) and not older
//   than the oldest message loaded (min_date) are fetched: the window between that
//   page and the previous one;
// - a window holding more emails than a page is completed first ("Load more" fetches
//   emails again before any older message), and messages older than the emails held
//   are kept out of view until then, so nothing shows out of place;
// - once Odoo has no older message, the remaining emails page by date.
import { Record } from "@mail/core/common/record";
import { Thread } from "@mail/core/common/thread_model";
import { rpc } from "@web/core/network/rpc";
import { patch } from "@web/core/utils/patch";

export const CRM_INBOX_CHATTER_MODELS = ["res.partner", "crm.lead"];
export const CRM_INBOX_PAGE = 30;

patch(Thread.prototype, {
    setup() {
        super.setup();
        /** synced emails held, newest first */
        this.crmInboxEmails = Record.many("CrmInboxEmail", {
            sort: (a, b) => b.datetime.ts - a.datetime.ts || b.id - a.id,
        });
        /** false once the server said this user has no Inbox (nothing to fetch) */
        this.crmInboxEnabled = true;
        /** emails were fetched at least once for this thread */
        this.crmInboxLoaded = false;
        /** more emails exist older than the oldest held, within the current window */
        this.crmInboxHasMore = false;
        /** Odoo itself still has older messages to load */
        this.crmInboxOdooOlder = false;
        this.crmInboxSearchEmails = Record.many("CrmInboxEmail");
        this.crmInboxSearchCount = 0;
        /** the email request in flight, if any */
        this.crmInboxBusy = null;
    },

    /** Whether this thread's chatter shows synced emails. */
    get crmInboxActive() {
        return (
            this.crmInboxEnabled &&
            CRM_INBOX_CHATTER_MODELS.includes(this.model) &&
            Number.isInteger(this.id) &&
            this.id > 0
        );
    },

    get isEmpty() {
        return super.isEmpty && !(this.crmInboxActive && this.crmInboxEmails.length);
    },

    /** Oldest date among the Odoo messages held (the lower end of the email window). */
    get crmInboxMessagesMinDate() {
        let min;
        for (const message of this.messages) {
            if (Number.isInteger(message.id) && (!min || message.datetime < min)) {
                min = message.datetime;
            }
        }
        return min;
    },

    /** Odoo messages older than the emails held are out of view until those are in. */
    crmInboxShowsMessage(message) {
        if (!this.crmInboxActive || !this.crmInboxHasMore) {
            return true;
        }
        const oldest = this.crmInboxEmails.at(-1);
        return !oldest || message.datetime >= oldest.datetime;
    },

    crmInboxUpdateLoadOlder() {
        this.loadOlder = this.crmInboxOdooOlder || this.crmInboxHasMore;
    },

    /**
     * One request to the chatter's email route.
     * @param {Object} params before / after / min_date / search_term / limit
     */
    async crmInboxRequest(params) {
        const result = await rpc("/crm_inbox/chatter/emails", {
            thread_model: this.model,
            thread_id: this.id,
            limit: CRM_INBOX_PAGE,
            ...params,
        });
        if (!result.enabled) {
            this.crmInboxEnabled = false;
        }
        return result;
    },

    /** Fetch the next older emails of the current window (see the module comment). */
    async crmInboxFetchOlder() {
        const minDate = this.crmInboxOdooOlder ? this.crmInboxMessagesMinDate : undefined;
        const oldest = this.crmInboxEmails.at(-1);
        const result = await this.crmInboxRequest({
            before: oldest ? oldest.cursor : undefined,
            min_date: minDate ? minDate.toUTC().toFormat("yyyy-MM-dd HH:mm:ss") : undefined,
        });
        this.crmInboxEmails.push(...this.store.CrmInboxEmail.insert(result.emails));
        this.crmInboxHasMore = result.has_more;
        this.crmInboxLoaded = true;
    },

    /** Emails that arrived since the newest one held (after a sync, a reply sent...). */
    async crmInboxFetchNewer() {
        const newest = this.crmInboxEmails[0];
        if (!newest) {
            return this.crmInboxReset();
        }
        const result = await this.crmInboxRequest({ after: newest.cursor, limit: 100 });
        if (result.has_more) {
            // too many new ones to join without a gap: start over
            return this.crmInboxReset();
        }
        this.crmInboxEmails.push(...this.store.CrmInboxEmail.insert(result.emails));
    },

    async crmInboxReset() {
        this.crmInboxEmails = [];
        this.crmInboxHasMore = false;
        await this.crmInboxFetchOlder();
    },

    async crmInboxRun(fn) {
        if (this.crmInboxBusy) {
            return this.crmInboxBusy;
        }
        this.crmInboxBusy = (async () => {
            try {
                await fn();
            } catch (error) {
                this.hasLoadingFailed = true;
                throw error;
            } finally {
                this.crmInboxBusy = null;
                this.crmInboxUpdateLoadOlder();
            }
        })();
        return this.crmInboxBusy;
    },

    async fetchNewMessages() {
        if (!this.crmInboxActive) {
            return super.fetchNewMessages(...arguments);
        }
        const initial = !this.isLoaded || !this.newestPersistentMessage;
        if (this.status === "loading") {
            return super.fetchNewMessages(...arguments);
        }
        await super.fetchNewMessages(...arguments);
        if (initial) {
            this.crmInboxOdooOlder = this.loadOlder;
        }
        if (!this.crmInboxActive) {
            return;
        }
        await this.crmInboxRun(() =>
            initial || !this.crmInboxLoaded ? this.crmInboxReset() : this.crmInboxFetchNewer()
        );
    },

    async fetchMoreMessages(epoch = "older") {
        if (!this.crmInboxActive || epoch !== "older") {
            return super.fetchMoreMessages(...arguments);
        }
        if (this.status === "loading" || this.crmInboxBusy || !this.loadOlder) {
            return;
        }
        // older emails appended below keep what is on screen where it is
        this.scrollTop = undefined;
        if (this.crmInboxHasMore || !this.crmInboxOdooOlder) {
            await this.crmInboxRun(() => this.crmInboxFetchOlder());
            return;
        }
        this.loadOlder = true;
        await super.fetchMoreMessages("older");
        this.crmInboxOdooOlder = this.loadOlder;
        await this.crmInboxRun(() => this.crmInboxFetchOlder());
    },

    async loadAround(messageId) {
        await super.loadAround(...arguments);
        if (this.crmInboxActive) {
            // a jump to a message: the emails restart from the newest, down to the
            // messages now held
            this.crmInboxOdooOlder = this.loadOlder;
            await this.crmInboxRun(() => this.crmInboxReset());
        }
    },
});
