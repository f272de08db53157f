/** @odoo-module **/
// A synced email (crm.inbox.message) shown in the chatter of a contact or lead.
//
// It is not a mail.message: it comes from /crm_inbox/chatter/emails (the level-checked
// read path), carries only what the account's level allows (metadata rows have no body
// nor attachments) and its body, already rendered by models/mail_render.py, is only
// ever given to the sandboxed frame (CrmInboxEmailFrame), never put in this DOM.
import { Record } from "@mail/core/common/record";
import { _t } from "@web/core/l10n/translation";
import { user } from "@web/core/user";

const { DateTime } = luxon;

export class CrmInboxEmail extends Record {
    static id = "id";
    /** @type {Object.<number, import("models").CrmInboxEmail>} */
    static records = {};
    /** @returns {import("models").CrmInboxEmail} */
    static get(data) {
        return super.get(data);
    }
    /** @returns {import("models").CrmInboxEmail|import("models").CrmInboxEmail[]} */
    static insert(data) {
        return super.insert(...arguments);
    }

    /** @type {number} */
    id;
    /** @type {"full"|"metadata"} */
    level;
    can_open = false;
    can_reply = false;
    date = Record.attr(undefined, { type: "datetime" });
    subject = "";
    email_from = "";
    email_to = "";
    email_cc = "";
    /** @type {string} address of the mailbox the email came from */
    account = "";
    author_id = false;
    author_name = "";
    /** @type {"in"|"out"} */
    direction = "in";
    conversation_id = false;
    /** rendered by models/mail_render.py; only for the sandboxed frame */
    body_html = "";
    /** the quoted history and signature, folded behind "…" (same renderer, same frame) */
    body_quoted_html = "";
    attachment_list = [];

    /** Marks this item in the chatter's merged list (Odoo messages and emails). */
    get isCrmInboxEmail() {
        return true;
    }

    get isFull() {
        return this.level === "full";
    }

    get datetime() {
        return this.date || DateTime.now();
    }

    get dateDay() {
        let dateDay = this.datetime.toLocaleString(DateTime.DATE_MED);
        if (dateDay === DateTime.now().toLocaleString(DateTime.DATE_MED)) {
            dateDay = _t("Today");
        }
        return dateDay;
    }

    get dateSimpleWithDay() {
        return this.datetime.toLocaleString(DateTime.DATETIME_MED, { locale: user.lang });
    }

    get datetimeShort() {
        return this.datetime.toLocaleString(DateTime.DATETIME_SHORT_WITH_SECONDS);
    }

    /** The sender's name, as the From field shows it. */
    get senderName() {
        if (this.author_name) {
            return this.author_name;
        }
        const match = /^\s*"?([^"<]*?)"?\s*<[^>]*>/.exec(this.email_from || "");
        return (match && match[1]) || this.email_from || _t("Unknown sender");
    }

    get avatarUrl() {
        if (this.author_id) {
            return `/web/image/res.partner/${this.author_id}/avatar_128`;
        }
        return this.store.DEFAULT_AVATAR;
    }

    /** The cursor of this email in the chatter's keyset paging: [date, id]. */
    get cursor() {
        return [this.date.toUTC().toFormat("yyyy-MM-dd HH:mm:ss"), this.id];
    }
}

CrmInboxEmail.register();
