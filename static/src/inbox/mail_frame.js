/** @odoo-module **/
// A rendered mail body in the sandboxed frame of the security review (issue 8): the same
// wrapper document and sandbox as the crm_inbox_mail_frame field widget, as a component
// the inbox client can place anywhere. The body is the server's rendering
// (models/mail_render.py); it never enters the main DOM.
import { Component, onWillUnmount, useRef } from "@odoo/owl";
import {
    MAIL_FRAME_SANDBOX,
    fitFrameToContent,
    mailFrameDocument,
} from "../mail_frame/mail_frame_field";

export class InboxMailFrame extends Component {
    static template = "crm_inbox.InboxMailFrame";
    static props = {
        body: { type: String },
        allowRemote: { type: Boolean, optional: true },
        title: { type: String, optional: true },
    };

    setup() {
        this.frameRef = useRef("frame");
        this.sandbox = MAIL_FRAME_SANDBOX;
        onWillUnmount(() => this.observer?.disconnect());
    }

    get srcdoc() {
        return mailFrameDocument(this.props.body, Boolean(this.props.allowRemote));
    }

    onLoad() {
        this.observer?.disconnect();
        this.observer = fitFrameToContent(this.frameRef.el);
    }
}
