/** @odoo-module **/
// Under the To/Cc/Bcc fields of the reply box: which addresses the reply sends to that
// were not on the message answered (added), and which of its addresses it leaves out
// (removed), recomputed as the user edits the fields. The original's addresses come from
// inbox_reply_defaults (original_addresses); our own addresses are left out on purpose
// and shown apart.
import { Component } from "@odoo/owl";
import { InboxComposer } from "./inbox_composer";

const EMAIL_RE = /[^\s<>,;:"()[\]]+@[^\s<>,;:"()[\]]+/g;

/** Normalized addresses of one field's text, in order, no duplicates. */
export function fieldAddresses(text) {
    const out = [];
    for (const match of (text || "").matchAll(EMAIL_RE)) {
        const email = match[0].replace(/^[.]+|[.]+$/g, "").toLowerCase();
        if (!out.includes(email)) {
            out.push(email);
        }
    }
    return out;
}

export class InboxRecipientChanges extends Component {
    static template = "crm_inbox.InboxRecipientChanges";
    static props = { draft: Object };

    get changes() {
        const draft = this.props.draft;
        const original = draft.originalAddresses || [];
        const own = draft.ownAddresses || [];
        if (!original.length || draft.mode === "forward") {
            return { added: [], removed: [], own: [] };
        }
        const now = [
            ...fieldAddresses(draft.to), ...fieldAddresses(draft.cc), ...fieldAddresses(draft.bcc),
        ];
        return {
            added: now.filter((a) => !original.includes(a)),
            removed: original.filter((a) => !now.includes(a) && !own.includes(a)),
            own: original.filter((a) => !now.includes(a) && own.includes(a)),
        };
    }
}

InboxComposer.components = { ...(InboxComposer.components || {}), InboxRecipientChanges };
