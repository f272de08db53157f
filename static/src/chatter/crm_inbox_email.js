/** @odoo-module **/
// One synced email in the chatter: sender avatar, subject, participants, the mailbox
// it came from, its body in the sandboxed frame of static/src/mail_frame (srcdoc + CSP,
// no allow-scripts; never in this DOM), its attachments, and its actions: Reply, Reply
// all, Forward (the crm_inbox composer, for users allowed to send from the account),
// Open conversation, Unlink from this record.
import { Component, onWillUnmount, useRef, useState } from "@odoo/owl";
import {
    MAIL_FRAME_SANDBOX,
    fitFrameToContent,
    mailFrameDocument,
} from "@crm_inbox/mail_frame/mail_frame_field";
import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { Dropdown } from "@web/core/dropdown/dropdown";
import { DropdownItem } from "@web/core/dropdown/dropdown_item";
import { _t } from "@web/core/l10n/translation";
import { useService } from "@web/core/utils/hooks";

/** Height (px) above which a body is shown folded, with "Show more". */
export const FOLDED_HEIGHT = 280;

export class CrmInboxEmailFrame extends Component {
    static template = "crm_inbox.EmailFrame";
    static props = { body: String };

    setup() {
        this.frameRef = useRef("frame");
        this.state = useState({ height: 60, expanded: false });
        this.sandbox = MAIL_FRAME_SANDBOX;
        onWillUnmount(() => this.observer?.disconnect());
    }

    get srcdoc() {
        // remote content is always blocked in the chatter (the read path renders so)
        return mailFrameDocument(this.props.body, false);
    }

    get FOLDED_HEIGHT_PX() {
        return `${FOLDED_HEIGHT}px`;
    }

    get folded() {
        return !this.state.expanded && this.state.height > FOLDED_HEIGHT;
    }

    onLoad() {
        this.observer?.disconnect();
        this.observer = fitFrameToContent(this.frameRef.el, (height) => {
            this.state.height = height;
            this.env.onImageLoaded?.();
        });
    }
}

export class CrmInboxEmailCard extends Component {
    static template = "crm_inbox.EmailCard";
    static components = { CrmInboxEmailFrame, Dropdown, DropdownItem };
    static props = { email: Object, thread: Object };

    setup() {
        this.action = useService("action");
        this.orm = useService("orm");
        this.dialog = useService("dialog");
        this.notification = useService("notification");
        this.quote = useState({ open: false });
    }

    get email() {
        return this.props.email;
    }

    get canUnlink() {
        return this.props.thread.hasWriteAccess !== false;
    }

    get participants() {
        const email = this.email;
        const parts = [];
        if (email.email_to) {
            parts.push(_t("To: %s", email.email_to));
        }
        if (email.email_cc) {
            parts.push(_t("Cc: %s", email.email_cc));
        }
        return parts.join(" · ");
    }

    attachmentUrl(attachment) {
        return `/web/content/${attachment.id}?download=true`;
    }

    async openComposer(method) {
        const thread = this.props.thread;
        // as a form button does (/web/dataset/call_button cleans the action)
        await this.action.doActionButton({
            type: "object",
            name: method,
            resModel: "crm.inbox.message",
            resId: this.email.id,
            resIds: [this.email.id],
            onClose: () => thread.crmInboxRun(() => thread.crmInboxFetchNewer()),
        });
    }

    onClickReply() {
        return this.openComposer("action_reply");
    }

    onClickReplyAll() {
        return this.openComposer("action_reply_all");
    }

    onClickForward() {
        return this.openComposer("action_forward");
    }

    onClickOpenConversation() {
        return this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "crm.inbox.conversation",
            res_id: this.email.conversation_id,
            views: [[false, "form"]],
            target: "current",
        });
    }

    onClickUnlink() {
        const thread = this.props.thread;
        const email = this.email;
        this.dialog.add(ConfirmationDialog, {
            title: _t("Unlink this email"),
            body: _t(
                "“%(subject)s” will no longer show on %(record)s, nor will its other copies. " +
                    "The email stays in the mailbox.",
                { subject: email.subject || _t("(no subject)"), record: thread.displayName || "" }
            ),
            confirmLabel: _t("Unlink"),
            confirm: async () => {
                await this.orm.call(thread.model, "crm_inbox_unlink_email", [
                    [thread.id],
                    email.id,
                ]);
                thread.crmInboxEmails.delete(email);
                this.notification.add(_t("The email is unlinked from this record."), {
                    type: "success",
                });
            },
            cancel: () => {},
        });
    }
}
