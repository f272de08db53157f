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
import { fileToBase64 } from "./inbox_utils";

export const MODES = {
    reply: _t("Reply"),
    reply_all: _t("Reply all"),
    forward: _t("Forward"),
};

export class InboxComposer extends Component {
    static template = "crm_inbox.InboxComposer";
    static props = {
        draft: Object,
        canSend: Boolean,
        onSent: Function,
        onCollapse: Function,
        onMode: Function,
    };

    setup() {
        this.orm = useService("orm");
        this.notification = useService("notification");
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

    get signatureText() {
        const draft = this.draft;
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
        }
    }

    async send() {
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
                    attachment_ids: draft.attachments.map((a) => a.id).filter(Boolean),
                },
            ]);
            if (result.warning) {
                this.notification.add(result.warning, { type: "warning", sticky: true });
            } else {
                this.notification.add(_t("Email sent."), { type: "success" });
            }
            await this.props.onSent();
        } finally {
            draft.sending = false;
        }
    }
}
