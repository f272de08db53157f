/** @odoo-module **/
// Collision warning. InboxViewers (in the reading pane's toolbar) subscribes to the open
// conversation's bus channel, tells the server the user is reading it (then pings every
// 30 s, says when they write a reply or leave) and shows the other members there. At
// Send, the reply box first asks inbox_send_review what arrived since the conversation
// was opened (mail from the other party, a colleague's reply, a reply sent from another
// mail client): if anything did, the user reviews it before the reply goes.
import { Component, onMounted, onWillUnmount, onWillUpdateProps, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { useService } from "@web/core/utils/hooks";
import { user } from "@web/core/user";
import { patch } from "@web/core/utils/patch";
import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { InboxClient } from "./inbox_client";
import { InboxComposer } from "./inbox_composer";

export const PING_INTERVAL = 30000;

export class InboxViewers extends Component {
    static template = "crm_inbox.InboxViewers";
    static props = { conversationId: Number, composing: { type: Boolean, optional: true } };

    setup() {
        this.orm = useService("orm");
        this.bus = this.env.services.bus_service;
        this.state = useState({ viewers: [] });
        this.current = null;
        this.onPresence = (payload) => {
            if (payload.conversation_id === this.current) {
                this.state.viewers = payload.viewers.filter((v) => v.id !== user.userId);
            }
        };
        onMounted(() => {
            this.bus?.subscribe("crm_inbox/presence", this.onPresence);
            this.join(this.props.conversationId, this.props.composing);
            this.timer = setInterval(() => this.announce("ping"), PING_INTERVAL);
        });
        onWillUpdateProps((next) => {
            if (next.conversationId !== this.current) {
                this.leave();
                this.join(next.conversationId, next.composing);
            } else if (Boolean(next.composing) !== Boolean(this.props.composing)) {
                this.announce(next.composing ? "compose" : "ping");
            }
        });
        onWillUnmount(() => {
            clearInterval(this.timer);
            this.bus?.unsubscribe("crm_inbox/presence", this.onPresence);
            this.leave();
        });
    }

    channel(id) {
        return `crm_inbox_conversation:${id}`;
    }

    join(id, composing) {
        this.current = id;
        this.state.viewers = [];
        this.bus?.addChannel(this.channel(id));
        this.announce("open").then(() => composing && this.announce("compose"));
    }

    leave() {
        if (this.current) {
            const id = this.current;
            this.current = null;
            this.bus?.deleteChannel(this.channel(id));
            this.orm.silent.call("crm.inbox.conversation", "inbox_presence", [id, "close"]);
        }
    }

    async announce(state) {
        const id = this.current;
        if (!id) {
            return;
        }
        const result = await this.orm.silent.call("crm.inbox.conversation", "inbox_presence", [
            id, state,
        ]);
        if (id === this.current) {
            this.state.viewers = result.viewers;
        }
    }

    label(viewer) {
        return viewer.state === "compose"
            ? _t("%s is writing a reply", viewer.name)
            : _t("%s is reading this conversation", viewer.name);
    }
}

InboxClient.components = { ...InboxClient.components, InboxViewers };
InboxComposer.props = { ...InboxComposer.props, onReview: { type: Function, optional: true } };

patch(InboxClient.prototype, {
    /** Reload the open conversation and unfold what arrived, for a review before Send. */
    async reviewNewMail() {
        const id = this.state.selectedId;
        if (!id) {
            return;
        }
        await this.loadThread(id, { keepExpanded: true });
        for (const message of this.state.thread?.messages || []) {
            this.state.expanded[message.id] = true;
        }
    },
});

patch(InboxComposer.prototype, {
    setup() {
        super.setup(...arguments);
        this.dialog = useService("dialog");
    },

    async send() {
        const draft = this.draft;
        if (draft.sending || !this.props.canSend || draft.reviewed) {
            draft.reviewed = false;
            return super.send(...arguments);
        }
        const news = await this.orm.call("crm.inbox.conversation", "inbox_send_review", [
            draft.messageId,
        ]);
        if (!news.length) {
            return super.send(...arguments);
        }
        const lines = news.map((m) =>
            (m.direction === "out" ? _t("Sent by your team") : m.from) + ": " + (m.snippet || "…")
        );
        this.dialog.add(ConfirmationDialog, {
            title: _t("New in this conversation"),
            body: _t(
                "Since you opened this conversation, %s new email(s) arrived or were sent:\n\n%s\n\nReview them before your reply goes?",
                news.length,
                lines.join("\n")
            ),
            confirmLabel: _t("Send anyway"),
            cancelLabel: _t("Review first"),
            confirm: async () => {
                await this.orm.call("crm.inbox.conversation", "inbox_send_review_done", [
                    draft.messageId,
                ]);
                draft.reviewed = true;
                return this.send();
            },
            cancel: async () => {
                // show them, then they count as seen: the next Send goes
                await this.props.onReview?.();
                await this.orm.call("crm.inbox.conversation", "inbox_send_review_done", [
                    draft.messageId,
                ]);
            },
        });
    },
});
