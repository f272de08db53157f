/** @odoo-module **/
// Mail bodies in a sandboxed frame (security review, issue 8).
//
// The value shown is already the server's rendering (models/mail_render.py: sanitized
// last, nothing remote unless the user allowed it). It is put, unchanged, in a fixed
// wrapper document (a Content-Security-Policy allowing no script, only local images, or
// http(s) images too after consent) given to an <iframe sandbox> through srcdoc. The
// sandbox never has allow-scripts: even a sanitizer bypass cannot run script in Odoo's
// origin. allow-same-origin lets this component size the frame to its content, as
// Odoo's html_viewer does; allow-popups(-to-escape-sandbox) open links in a new tab.
import { Component, onWillUnmount, useRef, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

export const MAIL_FRAME_SANDBOX = "allow-same-origin allow-popups allow-popups-to-escape-sandbox";

/**
 * The Content-Security-Policy of the frame document.
 * @param {boolean} allowRemote the user allowed remote images for this message
 * @returns {string}
 */
export function mailFrameCsp(allowRemote) {
    const images = allowRemote ? "'self' data: http: https:" : "'self' data:";
    return (
        `default-src 'none'; img-src ${images}; style-src 'unsafe-inline'; ` +
        "font-src 'none'; media-src 'none'; object-src 'none'; frame-src 'none'; " +
        "form-action 'none'; base-uri 'none'"
    );
}

/**
 * The fixed wrapper around a rendered body (the wrapper itself is never sanitized).
 * @param {string} body HTML rendered by the server
 * @param {boolean} allowRemote
 * @returns {string} a complete HTML document
 */
export function mailFrameDocument(body, allowRemote) {
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>" +
        `<meta http-equiv="Content-Security-Policy" content="${mailFrameCsp(allowRemote)}">` +
        "<meta name='referrer' content='no-referrer'><base target='_blank'>" +
        "<style>html,body{margin:0;padding:0;background:transparent}" +
        "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:14px;" +
        "line-height:1.45;color:#212529;overflow-wrap:anywhere;padding:4px 2px}" +
        "img{max-width:100%;height:auto}table{max-width:100%}pre{white-space:pre-wrap;font-family:inherit;margin:0}" +
        "blockquote{border-left:3px solid #ced4da;margin:0 0 0 4px;padding-left:8px;color:#555}" +
        "</style></head><body>" +
        (body || "") +
        "</body></html>"
    );
}

/**
 * Keep an iframe as tall as the mail document it shows (capped at 20,000 px).
 *
 * @param {HTMLIFrameElement} frame the loaded frame (same origin: srcdoc, no scripts)
 * @param {(height: number) => void} [onHeight] called with the height in px; by default
 *     the frame's own style.height is set
 * @returns {ResizeObserver|null} the observer to disconnect on unmount
 */
export function fitFrameToContent(frame, onHeight) {
    const doc = frame?.contentDocument;
    if (!doc?.documentElement) {
        return null;
    }
    const resize = () => {
        const height = Math.min(doc.documentElement.scrollHeight + 2, 20000);
        if (onHeight) {
            onHeight(height);
        } else {
            frame.style.height = `${height}px`;
        }
    };
    resize();
    const observer = new ResizeObserver(resize);
    observer.observe(doc.documentElement);
    return observer;
}

export class MailFrameField extends Component {
    static template = "crm_inbox.MailFrameField";
    static props = { ...standardFieldProps };

    setup() {
        this.orm = useService("orm");
        this.frameRef = useRef("frame");
        this.state = useState({ body: null, allowed: null, loading: false });
        this.sandbox = MAIL_FRAME_SANDBOX;
        onWillUnmount(() => this.observer?.disconnect());
    }

    get data() {
        return this.props.record.data;
    }

    get allowed() {
        return this.state.allowed ?? Boolean(this.data.remote_content_allowed);
    }

    get body() {
        const value = this.state.body ?? this.data[this.props.name];
        return value ? value.toString() : "";
    }

    get srcdoc() {
        return mailFrameDocument(this.body, this.allowed);
    }

    get showRemoteBar() {
        return Boolean(this.data.has_remote_content) && !this.allowed && Boolean(this.props.record.resId);
    }

    onLoad() {
        this.observer?.disconnect();
        this.observer = fitFrameToContent(this.frameRef.el);
    }

    async onShowRemote(ev) {
        ev.stopPropagation();
        const { resModel, resId } = this.props.record;
        this.state.loading = true;
        await this.orm.call(resModel, "action_show_remote_content", [[resId]]);
        // re-rendered on the server, with the consent
        const [values] = await this.orm.read(resModel, [resId], [this.props.name]);
        this.state.body = values[this.props.name] || "";
        this.state.allowed = true;
        this.state.loading = false;
    }
}

export const mailFrameField = {
    component: MailFrameField,
    displayName: _t("Email (sandboxed)"),
    supportedTypes: ["html"],
};

registry.category("fields").add("crm_inbox_mail_frame", mailFrameField);
