/** @odoo-module **/
// One email of the reading pane: collapsed to one line (sender, snippet, date) or open
// (addresses, body, quoted history folded behind "…", attachments as chips).
import { Component, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { useService } from "@web/core/utils/hooks";
import { useFileViewer } from "@web/core/file_viewer/file_viewer_hook";
import { FileModel } from "@web/core/file_viewer/file_model";
import { InboxMailFrame } from "./mail_frame";
import { addrName, humanSize, messageDate } from "./inbox_utils";

export class InboxMessage extends Component {
    static template = "crm_inbox.InboxMessage";
    static components = { InboxMailFrame };
    static props = {
        message: Object,
        expanded: Boolean,
        onToggle: Function,
        onShowImages: Function,
        isLast: { type: Boolean, optional: true },
    };

    setup() {
        this.action = useService("action");
        this.fileViewer = useFileViewer();
        this.state = useState({ quoted: false });
        this.addrName = addrName;
        this.humanSize = humanSize;
    }

    get msg() {
        return this.props.message;
    }

    get date() {
        return messageDate(this.msg.date);
    }

    get fromName() {
        return this.msg.direction === "out" ? _t("me") : addrName(this.msg.from);
    }

    get files() {
        return (this.msg.attachments || []).map((att) => {
            const file = new FileModel();
            Object.assign(file, {
                id: att.id,
                name: att.name,
                filename: att.name,
                mimetype: att.mimetype,
                type: "binary",
            });
            return file;
        });
    }

    /** Images and PDF open in Odoo's file viewer; anything else downloads. */
    isViewable(file) {
        return file.isImage || file.isPdf;
    }

    openAttachment(file) {
        const viewable = this.files.filter((f) => this.isViewable(f));
        if (this.isViewable(file)) {
            this.fileViewer.open(viewable.find((f) => f.id === file.id), viewable);
        } else {
            window.location.assign(file.downloadUrl);
        }
    }

    openPartner(partnerId) {
        this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "res.partner",
            res_id: partnerId,
            views: [[false, "form"]],
        });
    }

    toggleQuoted(ev) {
        ev.stopPropagation();
        this.state.quoted = !this.state.quoted;
    }
}
