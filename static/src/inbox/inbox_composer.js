/** @odoo-module **/
// The reply box at the foot of the thread: Reply / Reply all / Forward inline, the quoted
// email folded, the signature once (with the picker), attachments by drag and drop or the
// paperclip, Ctrl+Enter sends, Esc collapses (the draft is kept by the client action).
// It drives the composer model (crm.inbox.compose) through inbox_reply_defaults and
// inbox_send, so what leaves is exactly what the composer dialog would send.
import { Component, onMounted, onWillUpdateProps, useRef } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { useService } from "@web/core/utils/hooks";
import { useDropzone } from "@web/core/dropzone/dropzone_hook";
import { Dropdown } from "@web/core/dropdown/dropdown";
import { DropdownItem } from "@web/core/dropdown/dropdown_item";
import { CheckBox } from "@web/core/checkbox/checkbox";
import { serializeDateTime, today } from "@web/core/l10n/dates";
import { MailComposerScheduleDialog } from "@mail/chatter/web/mail_composer_schedule_dialog";
import { useDebounced } from "@web/core/utils/timing";
import { fileToBase64 } from "./inbox_utils";

export const MODES = {
    reply: _t("Reply"),
    reply_all: _t("Reply all"),
    forward: _t("Forward"),
};

export class InboxComposer extends Component {
    static template = "crm_inbox.InboxComposer";
    static components = { Dropdown, DropdownItem, CheckBox };
    static props = {
        draft: Object,
        canSend: Boolean,
        onSent: Function,
        onCollapse: Function,
        onMode: Function,
        onUndo: Function,
    };

    setup() {
        this.orm = useService("orm");
        this.notification = useService("notification");
        this.dialog = useService("dialog");
        // the draft is saved as the user types (crm.inbox.draft, private to them)
        this.autosave = useDebounced(() => this.saveDraft(), 800);
        this.rootRef = useRef("root");
        this.textRef = useRef("text");
        this.fileRef = useRef("file");
        this.MODES = MODES;
        this.modeKeys = Object.keys(MODES);
        useDropzone(this.rootRef, (ev) => this.addFiles(ev.dataTransfer.files),
            "o_crm_inbox_dropzone", () => this.props.draft.open);
        onMounted(() => this.focus());
        onWillUpdateProps((next) => {
            if (next.draft.focusToken !== this.props.draft.focusToken) {
                // after the render
                Promise.resolve().then(() => this.focus());
            }
        });
    }

    get draft() {
        return this.props.draft;
    }

    async saveDraft() {
        const draft = this.draft;
        if (!draft.conversationId || draft.sending) {
            return;
        }
        await this.orm.silent.call("crm.inbox.draft", "inbox_save_draft", [
            draft.conversationId,
            {
                message_id: draft.messageId,
                mode: draft.mode,
                to: draft.to,
                cc: draft.cc,
                bcc: draft.bcc,
                subject: draft.subject,
                text: draft.text,
                signature_id: draft.signatureId || false,
                identity_id: draft.identityId || false,
                attachment_ids: draft.attachments.map((a) => a.id).filter(Boolean),
            },
        ]);
        draft.savedAt = Date.now();
    }

    get signatureText() {
        const draft = this.draft;
        // a Send-as address with its own signature replaces the default one
        const identity = (draft.identities || []).find((i) => i.id && i.id === draft.identityId);
        if (identity?.signature_text && draft.signatureId === draft.defaultSignatureId) {
            return identity.signature_text;
        }
        if (draft.signatureId) {
            return draft.signatures.find((s) => s.id === draft.signatureId)?.text || "";
        }
        return draft.signatureText || "";
    }

    focus() {
        const el = this.textRef.el;
        if (el && this.draft.open) {
            el.focus();
            if (this.draft.mode !== "forward") {
                el.setSelectionRange(el.value.length, el.value.length);
            }
        }
    }

    onIdentity(ev) {
        this.draft.identityId = parseInt(ev.target.value) || false;
    }

    onSignature(ev) {
        this.draft.signatureId = parseInt(ev.target.value) || false;
    }

    onKeydown(ev) {
        if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
            ev.preventDefault();
            ev.stopPropagation();
            this.send();
        } else if (ev.key === "Escape") {
            ev.preventDefault();
            ev.stopPropagation();
            this.props.onCollapse();
        }
    }

    onPickFiles() {
        this.fileRef.el.click();
    }

    async onFileInput(ev) {
        await this.addFiles(ev.target.files);
        ev.target.value = "";
    }

    async addFiles(fileList) {
        const files = [...(fileList || [])];
        for (const file of files) {
            const placeholder = { id: false, name: file.name, uploading: true };
            this.draft.attachments.push(placeholder);
            try {
                const datas = await fileToBase64(file);
                const [id] = await this.orm.create("ir.attachment", [{
                    name: file.name,
                    datas,
                    mimetype: file.type || "application/octet-stream",
                }]);
                const index = this.draft.attachments.indexOf(placeholder);
                this.draft.attachments.splice(index, 1, {
                    id, name: file.name, mimetype: file.type,
                });
                this.autosave();
            } catch (error) {
                this.draft.attachments.splice(this.draft.attachments.indexOf(placeholder), 1);
                throw error;
            }
        }
    }

    removeAttachment(att) {
        const index = this.draft.attachments.indexOf(att);
        if (index >= 0) {
            this.draft.attachments.splice(index, 1);
            this.autosave();
        }
    }

    /** Templates (mail.template) of the linked lead's model or of contacts. */
    async loadTemplates() {
        this.draft.templates = await this.orm.call("crm.inbox.compose", "inbox_templates", [
            this.draft.messageId,
        ]);
    }

    async applyTemplate(template) {
        const draft = this.draft;
        const rendered = await this.orm.call("crm.inbox.compose", "inbox_render_template", [
            draft.messageId, template.id,
        ]);
        draft.text = draft.text.trim() ? `${rendered.text}\n\n${draft.text}` : rendered.text;
        if (rendered.subject && draft.mode === "forward") {
            draft.subject = rendered.subject;
        }
        draft.attachments.push(...rendered.attachments);
        this.autosave();
        this.focus();
    }

    async saveAsTemplate() {
        const draft = this.draft;
        const name = (draft.text.trim().split("\n")[0] || "").slice(0, 60);
        const saved = await this.orm.call("crm.inbox.compose", "inbox_save_template", [
            draft.messageId, name, draft.subject, draft.text,
        ]);
        this.notification.add(_t("Saved as the template “%s”.", saved.name), { type: "success" });
    }

    /** Send later: quick choices (local time), as Odoo's own "Schedule Message". */
    get tomorrowMorning() {
        return today().plus({ days: 1 }).set({ hour: 8 });
    }

    get mondayMorning() {
        return today().plus({ days: (1 - today().weekday + 7) % 7 || 7 }).set({ hour: 8 });
    }

    formatChoice(dt) {
        return dt.toLocaleString({ weekday: "short", day: "numeric", month: "short",
            hour: "numeric", minute: "numeric" });
    }

    sendLater(dt) {
        return this.send(serializeDateTime(dt));
    }

    pickSendLater() {
        this.dialog.add(MailComposerScheduleDialog, {
            isNote: false,
            schedule: (value) => this.send(value),
        });
    }

    /**
     * Queue the mail (crm.inbox.compose.inbox_send). Sent now: an "Undo" notification for
     * the user's delay, after which the queue is triggered; scheduled: it shows in the
     * thread (Edit / Cancel).
     *
     * @param {string|false} scheduledAt UTC "YYYY-MM-DD HH:MM:SS" (Send later)
     */
    async send(scheduledAt = false) {
        const draft = this.draft;
        if (draft.sending || !this.props.canSend) {
            return;
        }
        if (draft.attachments.some((a) => a.uploading)) {
            this.notification.add(_t("Wait until the attachments are uploaded."), {
                type: "warning",
            });
            return;
        }
        this.autosave.cancel();
        draft.sending = true;
        try {
            const result = await this.orm.call("crm.inbox.compose", "inbox_send", [
                draft.messageId,
                draft.mode,
                {
                    to: draft.to,
                    cc: draft.cc,
                    bcc: draft.bcc,
                    subject: draft.subject,
                    text: draft.text,
                    signature_id: draft.signatureId || false,
                    identity_id: draft.identityId || false,
                    attachment_ids: draft.attachments.map((a) => a.id).filter(Boolean),
                    scheduled_at: scheduledAt || false,
                    cancel_on_reply: Boolean(scheduledAt && draft.cancelOnReply),
                },
            ]);
            if (result.undo_seconds) {
                this.notifyUndo(result);
            } else if (scheduledAt) {
                this.notification.add(_t("Scheduled: it shows in the conversation until it leaves."), {
                    type: "success",
                });
            } else {
                this.notification.add(_t("Email sent."), { type: "success" });
            }
            await this.props.onSent(result);
        } finally {
            draft.sending = false;
        }
    }

    notifyUndo(result) {
        // the services themselves: this box is gone once the mail is queued
        const { orm, notification } = this.env.services;
        const onUndo = this.props.onUndo;
        const onSent = this.props.onSent;
        let undone = false;
        const timer = setTimeout(async () => {
            if (!undone) {
                await orm.silent.call("crm.inbox.compose", "inbox_release", [result.mail_id]);
                await onSent(result);
            }
        }, result.undo_seconds * 1000);
        const close = notification.add(
            _t("Sending in %s seconds…", result.undo_seconds), {
                type: "info",
                className: "o_crm_inbox_undo_notification",
                autocloseDelay: result.undo_seconds * 1000,
                buttons: [{
                    name: _t("Undo"),
                    primary: true,
                    onClick: async () => {
                        undone = true;
                        clearTimeout(timer);
                        close();
                        const draft = await orm.call("crm.inbox.compose", "inbox_undo_send", [
                            result.mail_id,
                        ]);
                        await onUndo(draft);
                    },
                }],
            });
    }
}
