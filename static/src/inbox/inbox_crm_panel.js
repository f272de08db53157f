/** @odoo-module **/
// The CRM beside the thread (issue 12): the sender's contact (company, phone, open leads,
// next activities), the leads linked to the conversation with the reason of each link,
// the leads offered when the link is ambiguous, and Create lead / Link to lead / Link to
// contact / unlink. Reads crm.inbox.conversation.inbox_crm_panel; writes through
// inbox_link / inbox_unlink / inbox_lead_defaults (a crm.lead form in a dialog).
import { Component, onWillStart, onWillUpdateProps, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { useService } from "@web/core/utils/hooks";
import { SelectCreateDialog } from "@web/views/view_dialogs/select_create_dialog";

const { DateTime } = luxon;

export class InboxCrmPanel extends Component {
    static template = "crm_inbox.InboxCrmPanel";
    static props = {
        conversationId: Number,
        // any value that changes when the thread was reloaded (new mail, an action)
        version: { optional: true },
        onChanged: { type: Function, optional: true },
    };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.dialog = useService("dialog");
        this.state = useState({ data: null });
        onWillStart(() => this.load(this.props.conversationId));
        onWillUpdateProps((next) => {
            if (next.conversationId !== this.props.conversationId ||
                next.version !== this.props.version) {
                return this.load(next.conversationId);
            }
        });
    }

    async load(conversationId) {
        const token = (this.loadToken = (this.loadToken || 0) + 1);
        const data = await this.orm.call("crm.inbox.conversation", "inbox_crm_panel", [
            conversationId,
        ]);
        if (token === this.loadToken) {
            this.state.data = data; // the last one asked for (a quick j/k pass)
        }
    }

    async refresh() {
        if (this.props.onChanged) {
            await this.props.onChanged(); // the thread reloads: a new version reloads this
        } else {
            await this.load(this.props.conversationId);
        }
    }

    get otherOpenLeads() {
        const shown = new Set([
            ...this.state.data.linked.map((l) => l.id),
            ...this.state.data.offered.map((l) => l.id),
        ]);
        return this.state.data.sender.open_leads.filter((l) => !shown.has(l.id));
    }

    reasonIcon(kind) {
        return { contact: "fa-user-o", email: "fa-at", manual: "fa-link" }[kind] || "fa-link";
    }

    money(lead) {
        const amount = (lead.expected_revenue || 0).toLocaleString(undefined, {
            maximumFractionDigits: 0,
        });
        const symbol = lead.currency?.symbol || "";
        return lead.currency?.position === "before" ? `${symbol} ${amount}` : `${amount} ${symbol}`;
    }

    dayLabel(day) {
        const date = DateTime.fromISO(day);
        const today = DateTime.local().startOf("day");
        const days = Math.round(date.diff(today, "days").days);
        if (days === 0) {
            return _t("Today");
        }
        if (days === 1) {
            return _t("Tomorrow");
        }
        if (days < 0) {
            return _t("%s days late", -days);
        }
        return date.toLocaleString({ month: "short", day: "numeric" });
    }

    activityClass(activity) {
        return { overdue: "text-danger", today: "text-warning" }[activity.state] || "text-success";
    }

    openRecord(resModel, resId) {
        this.action.doAction({
            type: "ir.actions.act_window",
            res_model: resModel,
            res_id: resId,
            views: [[false, "form"]],
        });
    }

    async link(kind, recordId) {
        await this.orm.call("crm.inbox.conversation", "inbox_link", [
            this.props.conversationId, kind, recordId,
        ]);
        await this.refresh();
    }

    async unlink(kind, recordId) {
        await this.orm.call("crm.inbox.conversation", "inbox_unlink", [
            this.props.conversationId, kind, recordId,
        ]);
        await this.refresh();
    }

    pick(kind) {
        const lead = kind === "lead";
        this.dialog.add(SelectCreateDialog, {
            resModel: lead ? "crm.lead" : "res.partner",
            title: lead ? _t("Link to lead") : _t("Link to contact"),
            multiSelect: false,
            noCreate: lead,
            context: lead ? {} : { default_email: this.state.data?.sender.email || false,
                default_name: this.state.data?.sender.name || false },
            onSelected: async (ids) => {
                if (ids?.length) {
                    await this.link(kind, ids[0]);
                }
            },
        });
    }

    async createLead() {
        const action = await this.orm.call("crm.inbox.conversation", "inbox_lead_defaults", [
            this.props.conversationId,
        ]);
        await this.action.doAction(action, { onClose: () => this.refresh() });
    }
}
