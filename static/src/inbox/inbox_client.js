/** @odoo-module **/
// The CRM Inbox mail client: an OWL client action (tag crm_inbox.client) with three panes,
// after Discuss's discuss_client_action: accounts, folders and smart folders; the
// conversation list; the reading pane with the thread and the inline reply box.
//
// Reads through the read RPCs of crm.inbox.conversation (inbox_sidebar, inbox_list,
// inbox_thread), writes through inbox_action (the two-way paths of crm.inbox.message) and
// the composer (crm.inbox.compose.inbox_send). Live through the bus
// ("crm_inbox/new_mail"); keyboard first through Odoo's hotkey service (/, ? and # are
// not passed by it: handled here); the URL keeps the open conversation
// (/odoo/crm-inbox/<id>); on a phone the panes become list, then thread.
import {
    Component,
    onMounted,
    onWillStart,
    onWillUnmount,
    useExternalListener,
    useRef,
    useState,
} from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { useHotkey } from "@web/core/hotkeys/hotkey_hook";
import { Dialog } from "@web/core/dialog/dialog";
import { Dropdown } from "@web/core/dropdown/dropdown";
import { DropdownItem } from "@web/core/dropdown/dropdown_item";
import { useDropdownState } from "@web/core/dropdown/dropdown_hooks";
import { ResizablePanel } from "@web/core/resizable_panel/resizable_panel";
import { router } from "@web/core/browser/router";
import { useDebounced } from "@web/core/utils/timing";
import { user } from "@web/core/user";
import { deserializeDateTime } from "@web/core/l10n/dates";
import { InboxMessage } from "./inbox_message";
import { InboxComposer, MODES } from "./inbox_composer";
import { InboxCrmPanel } from "./inbox_crm_panel";
import { InboxRemindMenu, InboxSnoozeMenu, whenLabel } from "./inbox_workflow";
import { addrName, isTyping, listDate, parseUtc, syncedAgo } from "./inbox_utils";

const PAGE = 50;
/** Delay before an opened conversation is marked read (not on a quick j/k pass). */
export const READ_DELAY = 1200;

export const SHORTCUTS = [
    ["j / k", _t("Next / previous conversation")],
    ["Enter / o", _t("Open the conversation")],
    ["r", _t("Reply")],
    ["a", _t("Reply all")],
    ["f", _t("Forward")],
    ["e", _t("Archive (done)")],
    ["b", _t("Snooze")],
    ["s", _t("Flag / unflag")],
    ["u", _t("Mark unread / read")],
    ["#", _t("Delete")],
    ["v", _t("Move to folder")],
    ["i", _t("Assign")],
    ["/", _t("Search")],
    ["?", _t("This list of shortcuts")],
    ["Ctrl+Enter", _t("Send the reply")],
    ["Esc", _t("Collapse the reply box (the draft is kept)")],
];

export class InboxShortcutsDialog extends Component {
    static template = "crm_inbox.InboxShortcutsDialog";
    static components = { Dialog };
    static props = { close: Function };
    setup() {
        this.shortcuts = SHORTCUTS;
    }
}

export class InboxClient extends Component {
    static template = "crm_inbox.InboxClient";
    static components = {
        InboxMessage, InboxComposer, ResizablePanel, Dropdown, DropdownItem,
        InboxSnoozeMenu, InboxRemindMenu, InboxCrmPanel,
    };
    static props = ["*"];

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        // opened from a link in a new tab (no app in the session yet): the navbar shows
        // CRM Inbox's menus, as when the app is opened from the home menu
        const menus = useService("menu");
        if (!menus.getCurrentApp()) {
            const app = menus.getApps().find((m) => m.xmlid === "crm_inbox.crm_inbox_menu_root");
            if (app) {
                menus.setCurrentMenu(app);
            }
        }
        this.notification = useService("notification");
        this.dialog = useService("dialog");
        this.busService = this.env.services.bus_service;
        this.ui = useState(useService("ui"));
        this.listRef = useRef("list");
        this.searchRef = useRef("search");
        this.threadRef = useRef("thread");
        this.moveMenu = useDropdownState();
        this.assignMenu = useDropdownState();
        this.snoozeMenu = useDropdownState();
        this.listDate = listDate;
        this.addrName = addrName;
        this.MODES = MODES;
        this.userId = user.userId;
        const ctx = this.props.action?.context || {};
        this.state = useState({
            scopeLabel: "",
            sidebar: null,
            scope: this.initialScope(ctx),
            search: "",
            rows: [],
            total: 0,
            loading: true,
            loadingMore: false,
            selectedId: this.initialConversation(ctx),
            checked: {},
            thread: null,
            threadLoading: false,
            expanded: {},
            mobileView: "list",
            assignees: [],
            moveFolders: [],
            drafts: {},
            now: Date.now(),
            showCrm: localStorage.getItem("crm_inbox.show_crm") !== "0",
        });
        this.readTimer = null;
        this.onSearchInput = useDebounced(() => this.reload(), 300);
        this.onNewMail = (payload) => this.refreshLive(payload);

        useHotkey("j", () => this.moveSelection(1), { allowRepeat: true });
        useHotkey("k", () => this.moveSelection(-1), { allowRepeat: true });
        useHotkey("arrowdown", () => this.moveSelection(1), {
            allowRepeat: true, isAvailable: () => this.listHasFocus(),
        });
        useHotkey("arrowup", () => this.moveSelection(-1), {
            allowRepeat: true, isAvailable: () => this.listHasFocus(),
        });
        useHotkey("enter", () => this.openSelected(), { isAvailable: () => this.noButtonFocused() });
        useHotkey("o", () => this.openSelected());
        useHotkey("r", () => this.compose("reply"), { isAvailable: () => this.hasThread });
        useHotkey("a", () => this.compose("reply_all"), { isAvailable: () => this.hasThread });
        useHotkey("f", () => this.compose("forward"), { isAvailable: () => this.hasThread });
        useHotkey("e", () => this.doAction("archive"), { isAvailable: () => this.hasTarget });
        useHotkey("s", () => this.toggleFlag(), { isAvailable: () => this.hasTarget });
        useHotkey("u", () => this.toggleRead(), { isAvailable: () => this.hasTarget });
        useHotkey("v", () => this.openMove(), { isAvailable: () => this.hasThread });
        useHotkey("b", () => this.snoozeMenu.open(), { isAvailable: () => this.hasThread });
        useHotkey("i", () => this.openAssign(), { isAvailable: () => this.hasThread });
        useHotkey("escape", () => this.backToList(), {
            isAvailable: () => this.ui.isSmall && this.state.mobileView === "thread",
        });
        // the hotkey service does not pass "/", "?" or "#": handled here, never while typing
        useExternalListener(window, "keydown", (ev) => this.onKeydown(ev));

        onWillStart(async () => {
            await this.loadSidebar();
            if (!this.state.scope) {
                this.state.scope = this.defaultScope();
            }
            await this.loadList();
            if (this.state.selectedId) {
                await this.loadThread(this.state.selectedId);
                this.state.mobileView = "thread";
            }
        });
        onMounted(() => {
            this.busService?.subscribe("crm_inbox/new_mail", this.onNewMail);
            this.busService?.subscribe("crm_inbox/outbox", this.onOutbox);
            this.busService?.start?.();
            this.clock = setInterval(() => (this.state.now = Date.now()), 60000);
            this.scrollToSelected();
        });
        onWillUnmount(() => {
            this.busService?.unsubscribe("crm_inbox/new_mail", this.onNewMail);
            this.busService?.unsubscribe("crm_inbox/outbox", this.onOutbox);
            clearTimeout(this.readTimer);
            clearInterval(this.clock);
        });
    }

    // ------------------------------------------------------------------
    // initial state (action context, URL)
    // ------------------------------------------------------------------
    initialScope(ctx) {
        if (ctx.crm_inbox_partner_id) {
            return { partner_id: ctx.crm_inbox_partner_id };
        }
        if (ctx.crm_inbox_lead_id) {
            return { lead_id: ctx.crm_inbox_lead_id };
        }
        return null;
    }

    initialConversation(ctx) {
        const value =
            this.props.resId ||
            ctx.active_conversation_id ||
            this.props.action?.params?.conversation ||
            router.current.resId;
        return parseInt(value) || null;
    }

    defaultScope() {
        const accounts = this.state.sidebar?.accounts || [];
        const wanted = this.props.action?.context?.crm_inbox_account_id;
        const account = accounts.find((a) => a.id === wanted) || accounts[0];
        const inbox = account?.folders.find((f) => f.role === "inbox");
        return inbox ? { folder_id: inbox.id } : { smart: "all" };
    }

    // ------------------------------------------------------------------
    // loading
    // ------------------------------------------------------------------
    async loadSidebar() {
        this.state.sidebar = await this.orm.call("crm.inbox.conversation", "inbox_sidebar", []);
    }

    async loadList({ keep = false } = {}) {
        const limit = keep ? Math.max(this.state.rows.length, PAGE) : PAGE;
        this.state.loading = !keep;
        const result = await this.orm.call("crm.inbox.conversation", "inbox_list", [
            this.state.scope,
        ], { search: this.state.search, offset: 0, limit });
        this.state.rows = result.rows;
        this.state.total = result.total;
        this.state.scopeLabel = result.scope_label || "";
        this.state.loading = false;
    }

    async loadMore() {
        if (this.state.loadingMore || this.state.rows.length >= this.state.total) {
            return;
        }
        this.state.loadingMore = true;
        try {
            const result = await this.orm.call("crm.inbox.conversation", "inbox_list", [
                this.state.scope,
            ], { search: this.state.search, offset: this.state.rows.length, limit: PAGE });
            const known = new Set(this.state.rows.map((r) => r.id));
            this.state.rows.push(...result.rows.filter((r) => !known.has(r.id)));
            this.state.total = result.total;
        } finally {
            this.state.loadingMore = false;
        }
    }

    onListScroll(ev) {
        const el = ev.target;
        if (el.scrollTop + el.clientHeight > el.scrollHeight - 200) {
            this.loadMore();
        }
    }

    async reload() {
        this.state.checked = {};
        await this.loadList();
        if (this.listRef.el) {
            this.listRef.el.scrollTop = 0;
        }
    }

    async loadThread(conversationId, { keepExpanded = false } = {}) {
        this.state.threadLoading = !keepExpanded;
        let thread;
        try {
            thread = await this.orm.call("crm.inbox.conversation", "inbox_thread", [
                conversationId,
            ]);
        } catch (error) {
            this.state.threadLoading = false;
            if (this.state.selectedId === conversationId) {
                this.state.selectedId = null;
                this.state.thread = null;
                this.props.updateActionState?.({ resId: false });
            }
            throw error;
        }
        if (this.state.selectedId !== conversationId) {
            return; // another one was selected meanwhile
        }
        const expanded = keepExpanded ? { ...this.state.expanded } : {};
        if (!keepExpanded) {
            this.state.showAllMessages = false;
        }
        const messages = thread.messages || [];
        if (!keepExpanded) {
            // the newest email and the unread ones just before it are open (what is
            // new since the last one read or sent), older ones collapsed to a line
            for (let index = messages.length - 1; index >= 0; index--) {
                if (index !== messages.length - 1 && !messages[index].unread) {
                    break;
                }
                expanded[messages[index].id] = true;
            }
        } else if (messages.length) {
            expanded[messages.at(-1).id] = true;
        }
        this.state.expanded = expanded;
        this.state.thread = thread;
        this.state.threadLoading = false;
        if (!keepExpanded) {
            // a refresh (after an action, new mail) never marks read by itself
            this.scheduleRead(thread);
            Promise.resolve().then(() => this.scrollThreadToEnd());
        }
    }

    scrollThreadToEnd() {
        const el = this.threadRef.el;
        const open = el?.querySelectorAll(".o_crm_inbox_message.o_expanded");
        if (open?.length) {
            const first = open[0];
            el.scrollTop = Math.max(0, first.offsetTop - el.offsetTop - 8);
        }
    }

    /** Opening marks the newest unread emails read after a short delay (not on hover). */
    scheduleRead(thread) {
        const unread = thread.messages.filter((m) => m.unread).map((m) => m.id);
        // back from a snooze: unread in Odoo only (wake_unread), read on opening too
        const woken = Boolean(thread.conversation.wake_unread);
        if ((!unread.length && !woken) || thread.conversation.level !== "full") {
            return;
        }
        const conversationId = thread.conversation.id;
        this.readTimer = setTimeout(async () => {
            if (this.state.selectedId !== conversationId) {
                return;
            }
            try {
                await this.orm.call("crm.inbox.conversation", "inbox_action", [
                    [conversationId], "read", unread,
                ]);
            } catch {
                return; // e.g. a shared account at read level: stays unread
            }
            for (const m of this.state.thread?.messages || []) {
                if (unread.includes(m.id)) {
                    m.unread = false;
                }
            }
            const row = this.state.rows.find((r) => r.id === conversationId);
            if (row) {
                row.unread = false;
            }
            await this.loadSidebar();
        }, READ_DELAY);
    }

    /** Mail stored by a sync (bus): the list and counts follow, the selection stays. */
    async refreshLive(payload) {
        await Promise.all([this.loadSidebar(), this.loadList({ keep: true })]);
        const id = this.state.selectedId;
        if (id && (payload?.conversation_ids || []).includes(id)) {
            await this.loadThread(id, { keepExpanded: true });
        }
    }

    // ------------------------------------------------------------------
    // sidebar
    // ------------------------------------------------------------------
    isScope(scope) {
        return JSON.stringify(scope) === JSON.stringify(this.state.scope);
    }

    async setScope(scope) {
        this.state.scope = scope;
        this.state.search = "";
        if (this.ui.isSmall) {
            this.state.mobileView = "list";
        }
        await this.reload();
    }

    get pausedAccounts() {
        return (this.state.sidebar?.accounts || []).filter((a) => a.paused);
    }

    get hasAccounts() {
        return Boolean(this.state.sidebar?.accounts?.length);
    }

    get syncedLabel() {
        void this.state.now; // re-rendered every minute
        return syncedAgo(this.state.sidebar?.last_sync);
    }

    folderIcon(folder) {
        return {
            inbox: "fa-inbox",
            sent: "fa-paper-plane-o",
            archive: "fa-archive",
            trash: "fa-trash-o",
            junk: "fa-ban",
            drafts: "fa-file-text-o",
        }[folder.role] || "fa-folder-o";
    }

    async onReconnect(accountId) {
        await this.action.doActionButton({
            type: "object",
            name: "action_reconnect",
            resModel: "crm.inbox.account",
            resId: accountId,
            resIds: [accountId],
        });
    }

    onConnect() {
        this.action.doAction("crm_inbox.crm_inbox_account_setup_action_open", {
            onClose: () => this.loadSidebar().then(() => this.reload()),
        });
    }

    async onSyncNow() {
        if (this.state.syncing) {
            return;
        }
        this.state.syncing = true;
        try {
            for (const account of this.state.sidebar?.accounts || []) {
                if (!account.paused) {
                    await this.orm.call("crm.inbox.account", "action_sync_now", [[account.id]]);
                }
            }
        } finally {
            this.state.syncing = false;
        }
        await Promise.all([this.loadSidebar(), this.loadList({ keep: true })]);
    }

    onNewEmail() {
        this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "crm.inbox.compose",
            views: [[false, "form"]],
            target: "new",
            name: _t("New email"),
            context: this.currentAccountId ? { default_account_id: this.currentAccountId } : {},
        });
    }

    get currentAccountId() {
        const scope = this.state.scope || {};
        if (scope.account_id) {
            return scope.account_id;
        }
        if (scope.folder_id) {
            return this.state.sidebar?.accounts.find((a) =>
                a.folders.some((f) => f.id === scope.folder_id))?.id;
        }
        return this.state.thread?.conversation.account_id;
    }

    // ------------------------------------------------------------------
    // list and selection
    // ------------------------------------------------------------------
    get selectedIndex() {
        return this.state.rows.findIndex((r) => r.id === this.state.selectedId);
    }

    async select(row, { open = true } = {}) {
        if (!row) {
            return;
        }
        clearTimeout(this.readTimer);
        this.state.selectedId = row.id;
        this.props.updateActionState?.({ resId: row.id });
        if (open && this.ui.isSmall) {
            this.state.mobileView = "thread";
        }
        this.scrollToSelected();
        await this.loadThread(row.id);
    }

    onRowClick(row, ev) {
        if (ev.target.closest(".o_crm_inbox_check, .o_crm_inbox_badge_lead")) {
            return;
        }
        if (ev.shiftKey || ev.ctrlKey || ev.metaKey) {
            this.toggleCheck(row);
            return;
        }
        this.select(row);
    }

    toggleCheck(row) {
        if (this.state.checked[row.id]) {
            delete this.state.checked[row.id];
        } else {
            this.state.checked[row.id] = true;
        }
    }

    get checkedIds() {
        return Object.keys(this.state.checked).map((id) => parseInt(id));
    }

    toggleAll() {
        if (this.checkedIds.length) {
            this.state.checked = {};
        } else {
            this.state.checked = Object.fromEntries(this.state.rows.map((r) => [r.id, true]));
        }
    }

    async moveSelection(delta) {
        const rows = this.state.rows;
        if (!rows.length) {
            return;
        }
        const index = this.selectedIndex;
        let next = index < 0 ? 0 : index + delta;
        if (next >= rows.length) {
            await this.loadMore();
            next = Math.min(next, this.state.rows.length - 1);
        }
        next = Math.max(0, next);
        if (next !== index) {
            await this.select(this.state.rows[next], { open: false });
        }
    }

    openSelected() {
        const row = this.state.rows[this.selectedIndex] || this.state.rows[0];
        if (!row) {
            return;
        }
        if (row.id !== this.state.selectedId || !this.state.thread) {
            this.select(row);
        } else {
            if (this.ui.isSmall) {
                this.state.mobileView = "thread";
            }
            // open every email of the thread
            this.state.showAllMessages = true;
            for (const m of this.state.thread.messages) {
                this.state.expanded[m.id] = true;
            }
        }
    }

    backToList() {
        this.state.mobileView = "list";
        this.scrollToSelected();
    }

    scrollToSelected() {
        Promise.resolve().then(() => {
            const el = this.listRef.el?.querySelector(".o_crm_inbox_row.o_selected");
            el?.scrollIntoView({ block: "nearest" });
        });
    }

    listHasFocus() {
        return Boolean(this.listRef.el?.contains(document.activeElement));
    }

    noButtonFocused() {
        const el = document.activeElement;
        return !(el && el.closest && el.closest("button, a, select, .dropdown-menu"));
    }

    onKeydown(ev) {
        if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || isTyping(ev)) {
            return;
        }
        if (this.ui.activeElement !== document || document.querySelector(".modal")) {
            return; // a dialog is open
        }
        if (ev.key === "/") {
            ev.preventDefault();
            this.searchRef.el?.focus();
            this.searchRef.el?.select();
        } else if (ev.key === "?") {
            ev.preventDefault();
            this.showShortcuts();
        } else if (ev.key === "#") {
            if (this.hasTarget) {
                ev.preventDefault();
                this.doAction("delete");
            }
        }
    }

    onSearchKeydown(ev) {
        if (ev.key === "Escape") {
            ev.target.blur();
        } else if (ev.key === "Enter") {
            this.reload();
        } else if (ev.key === "ArrowDown") {
            ev.preventDefault();
            ev.target.blur();
            this.moveSelection(1);
        }
    }

    showShortcuts() {
        this.dialog.add(InboxShortcutsDialog, {});
    }

    rowDate(row) {
        void this.state.now;
        return listDate(row.date);
    }

    // ------------------------------------------------------------------
    // actions (one conversation, or the bulk selection)
    // ------------------------------------------------------------------
    get hasThread() {
        return Boolean(this.state.thread && this.state.selectedId);
    }

    get hasTarget() {
        return Boolean(this.checkedIds.length || this.state.selectedId);
    }

    get targetIds() {
        return this.checkedIds.length ? this.checkedIds : [this.state.selectedId].filter(Boolean);
    }

    get targetRows() {
        const ids = new Set(this.targetIds);
        return this.state.rows.filter((r) => ids.has(r.id));
    }

    get threadFolders() {
        const current = new Set(this.state.thread?.conversation.folder_ids || []);
        return this.state.moveFolders.filter((f) => !(current.size === 1 && current.has(f.id)));
    }

    /** Every folder of the open conversation's mailbox (synced or not), for Move. */
    async loadMoveFolders() {
        const accountId = this.state.thread?.conversation.account_id;
        if (!accountId) {
            return;
        }
        const roles = {
            "\\Inbox": "inbox", "\\Sent": "sent", "\\Archive": "archive",
            "\\Trash": "trash", "\\Junk": "junk", "\\Drafts": "drafts",
        };
        const folders = await this.orm.searchRead("crm.inbox.folder", [
            ["account_id", "=", accountId], ["present_on_server", "=", true],
        ], ["display_label", "special_use"]);
        this.state.moveFolders = folders.map((f) => ({
            id: f.id, name: f.display_label, role: roles[f.special_use] || false,
        }));
    }

    async openMove() {
        await this.loadMoveFolders();
        this.moveMenu.open();
    }

    toggleFlag() {
        const rows = this.targetRows;
        const flagged = rows.length ? rows.every((r) => r.flagged) :
            Boolean(this.state.thread?.messages.some((m) => m.flagged));
        return this.doAction(flagged ? "unflag" : "flag");
    }

    toggleRead() {
        const rows = this.targetRows;
        const unread = rows.length ? rows.every((r) => r.unread) :
            Boolean(this.state.thread?.messages.some((m) => m.unread));
        return this.doAction(unread ? "read" : "unread");
    }

    async doAction(action, value = null) {
        const ids = this.targetIds;
        if (!ids.length) {
            return;
        }
        if (action === "unread" || action === "read") {
            clearTimeout(this.readTimer); // the user decides: no automatic read
        }
        const removes = ["archive", "delete", "move"].includes(action);
        const index = this.selectedIndex;
        await this.orm.call("crm.inbox.conversation", "inbox_action", [ids, action, value]);
        const labels = {
            archive: _t("Archived: done."),
            delete: _t("Deleted."),
            move: _t("Moved."),
        };
        if (labels[action]) {
            this.notification.add(
                ids.length > 1 ? _t("%s conversations: %s", ids.length, labels[action]) :
                    labels[action], { type: "success" });
        }
        await this.afterAction(ids, index, removes, action === "delete");
    }

    /** The list, counts and thread after an action on conversations *ids*. */
    async afterAction(ids, index, removes, deleted = false) {
        this.state.checked = {};
        await Promise.all([this.loadSidebar(), this.loadList({ keep: true })]);
        const selected = this.state.selectedId;
        if (removes && selected && ids.includes(selected)) {
            const stillListed = this.state.rows.find((r) => r.id === selected);
            if (deleted || !stillListed) {
                const next = this.state.rows[Math.min(index, this.state.rows.length - 1)];
                if (next && next.id !== selected) {
                    await this.select(next, { open: false });
                } else {
                    this.state.selectedId = null;
                    this.state.thread = null;
                    this.props.updateActionState?.({ resId: false });
                    if (this.ui.isSmall) {
                        this.state.mobileView = "list";
                    }
                }
                return;
            }
        }
        if (selected && ids.includes(selected)) {
            await this.loadThread(selected, { keepExpanded: true });
        }
    }

    /**
     * Snooze, done, reopen, reminders (crm.inbox.conversation.inbox_workflow): Odoo-side
     * only; a snoozed or done conversation leaves the open lists.
     */
    async workflow(action, value = null) {
        const ids = this.targetIds;
        if (!ids.length) {
            return;
        }
        const index = this.selectedIndex;
        await this.orm.call("crm.inbox.conversation", "inbox_workflow", [ids, action, value]);
        const labels = {
            snooze: _t("Snoozed."),
            unsnooze: _t("Back in the inbox."),
            done: _t("Done."),
            reopen: _t("Open again."),
            remind: _t("Reminder set: it is done by itself when they answer."),
            cancel_reminder: _t("Reminder cancelled."),
        };
        this.notification.add(labels[action], { type: "success" });
        await this.afterAction(ids, index, ["snooze", "done"].includes(action));
    }

    snooze(value) {
        return this.workflow(value ? "snooze" : "unsnooze", value || null);
    }

    remind(value) {
        return this.workflow(value ? "remind" : "cancel_reminder", value || null);
    }

    /** "Dec 9" of a reminder day (YYYY-MM-DD), "Thu 8:00 AM" of a snooze end (UTC). */
    reminderDay(day) {
        return day ? luxon.DateTime.fromISO(day).toLocaleString({ month: "short", day: "numeric" }) : "";
    }

    snoozeEnd(value) {
        return whenLabel(parseUtc(value));
    }

    toggleCrm() {
        this.state.showCrm = !this.state.showCrm;
        localStorage.setItem("crm_inbox.show_crm", this.state.showCrm ? "1" : "0");
    }

    async onCrmChanged() {
        if (this.state.selectedId) {
            await Promise.all([
                this.loadThread(this.state.selectedId, { keepExpanded: true }),
                this.loadList({ keep: true }),
            ]);
        }
    }

    async openAssign() {
        await this.loadAssignees();
        this.assignMenu.open();
    }

    async loadAssignees() {
        if (!this.state.thread) {
            return;
        }
        this.state.assignees = await this.orm.call("crm.inbox.conversation", "inbox_assignees", [
            this.state.thread.conversation.id,
        ]);
    }

    assign(userId) {
        return this.doAction("assign", userId);
    }

    move(folderId) {
        return this.doAction("move", folderId);
    }

    openLead(lead) {
        this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "crm.lead",
            res_id: lead.id,
            views: [[false, "form"]],
        });
    }

    openConversationForm() {
        this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "crm.inbox.conversation",
            res_id: this.state.thread.conversation.id,
            views: [[false, "form"]],
        });
    }

    // ------------------------------------------------------------------
    // thread and reply box
    // ------------------------------------------------------------------
    toggleMessage(message) {
        this.state.expanded[message.id] = !this.state.expanded[message.id];
    }

    expandAll() {
        for (const m of this.state.thread.messages) {
            this.state.expanded[m.id] = true;
        }
    }

    /**
     * The thread as shown: in a long thread, the collapsed emails between the first
     * one and the last three are folded into one "N older emails" bar (as webmail does).
     * @returns {{message: Object, hiddenBefore: number}[]}
     */
    get shownMessages() {
        const messages = this.state.thread?.messages || [];
        const expanded = this.state.expanded;
        if (this.state.showAllMessages || messages.length <= 5) {
            return messages.map((message) => ({ message, hiddenBefore: 0 }));
        }
        const shown = [];
        let hidden = 0;
        messages.forEach((message, index) => {
            const middle = index > 0 && index < messages.length - 3;
            if (middle && !expanded[message.id]) {
                hidden++;
                return;
            }
            shown.push({ message, hiddenBefore: hidden });
            hidden = 0;
        });
        return shown;
    }

    showAllMessages() {
        this.state.showAllMessages = true;
    }

    get collapsedCount() {
        return (this.state.thread?.messages || []).filter((m) => !this.state.expanded[m.id])
            .length;
    }

    async showImages(message) {
        await this.orm.call("crm.inbox.message", "action_show_remote_content", [[message.id]]);
        await this.loadThread(this.state.selectedId, { keepExpanded: true });
    }

    get draft() {
        const id = this.state.thread?.conversation.id;
        return id ? this.state.drafts[id] : null;
    }

    get replyTarget() {
        const messages = this.state.thread?.messages || [];
        return messages.at(-1);
    }

    get replyPlaceholder() {
        const target = this.replyTarget;
        if (!target) {
            return "";
        }
        const who = target.direction === "out" ? (target.to || []).map(addrName).join(", ") :
            addrName(target.from);
        return _t("Reply to %s…", who);
    }

    async compose(mode) {
        const thread = this.state.thread;
        const target = this.replyTarget;
        if (!thread || !target || !thread.conversation.can_send) {
            if (thread && !thread.conversation.can_send) {
                this.notification.add(_t("You can read this mailbox but not send from it."), {
                    type: "warning",
                });
            }
            return;
        }
        const id = thread.conversation.id;
        let draft = this.state.drafts[id];
        let isNew = false;
        if (!draft) {
            // a draft saved earlier (another tab, before the browser was closed)
            const saved = await this.orm.call("crm.inbox.draft", "inbox_load_draft", [id]);
            if (saved && !this.state.drafts[id]) {
                await this.restoreDraft({ ...saved, conversation_id: id });
                return;
            }
            // a new draft is shown once its defaults are in (never an empty To: for a moment)
            draft = {
                mode: null, text: "", to: "", cc: "", bcc: "", subject: "", attachments: [],
                signatures: [], signatureId: false, signatureText: "", quote: "",
                showQuote: false, showCc: false, open: true, sending: false, focusToken: 0,
                messageId: target.id, conversationId: id,
            };
            isNew = true;
        }
        draft.focusToken++;
        if (draft.mode !== mode || draft.messageId !== target.id) {
            // the box opens once its recipients are known (never an empty To shown)
            draft.open = draft.mode !== null && draft.open;
            const defaults = await this.orm.call("crm.inbox.compose", "inbox_reply_defaults", [
                target.id, mode,
            ]);
            Object.assign(draft, {
                mode,
                messageId: target.id,
                to: defaults.to,
                cc: defaults.cc,
                subject: defaults.subject,
                signatures: defaults.signatures,
                signatureId: draft.signatureId || defaults.signature_id || false,
                defaultSignatureId: defaults.signature_id || false,
                signatureText: defaults.signature_text,
                identities: defaults.identities || [],
                identityId: defaults.identity_id || false,
                quote: defaults.quote,
                originalAddresses: defaults.original_addresses || [],
                ownAddresses: defaults.own_addresses || [],
                showCc: Boolean(defaults.cc) || draft.showCc,
                attachments: [
                    ...draft.attachments.filter((a) => !a.forwarded),
                    ...defaults.attachments.map((a) => ({ ...a, forwarded: true })),
                ],
            });
        }
        draft.open = true;
        if (isNew && this.state.thread?.conversation.id === id) {
            this.state.drafts[id] = draft;
            await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
        }
        Promise.resolve().then(() => {
            // the whole box, Send button included
            this.threadRef.el?.querySelector(".o_crm_inbox_composer")?.scrollIntoView({
                block: "end",
            });
        });
    }

    collapseComposer() {
        if (this.draft) {
            this.draft.open = false;
        }
    }

    discardDraft() {
        const id = this.state.thread?.conversation.id;
        if (id) {
            delete this.state.drafts[id];
        }
    }

    /** A mail of the outbox failed or left: the open thread shows it. */
    onOutbox = async ({ conversation_id }) => {
        if (conversation_id === this.state.selectedId) {
            await this.loadThread(conversation_id, { keepExpanded: true });
        }
    };

    outboxDate(item) {
        if (!item.scheduled_at) {
            return "";
        }
        const when = deserializeDateTime(item.scheduled_at);
        if (when.diffNow("seconds").seconds < 60) {
            return _t("in a few seconds");
        }
        return when.toLocaleString({ weekday: "short", day: "numeric", month: "short",
            hour: "numeric", minute: "numeric" });
    }

    /**
     * Undo, Edit (scheduled) or Edit and resend (failed): the mail leaves the queue and its
     * draft comes back into the reply box of its conversation.
     */
    async restoreDraft(saved) {
        const id = saved.conversation_id || this.state.thread?.conversation.id;
        if (!id) {
            return;
        }
        this.state.drafts[id] = {
            mode: saved.mode || "reply", text: saved.text || "", to: saved.to || "",
            cc: saved.cc || "", bcc: saved.bcc || "", subject: saved.subject || "",
            attachments: saved.attachments || [], signatures: [],
            signatureId: saved.signature_id || false, signatureText: "", quote: "",
            showQuote: false, showCc: Boolean(saved.cc || saved.bcc), open: false,
            sending: false, focusToken: 0, messageId: saved.message_id, conversationId: id,
        };
        if (id === this.state.selectedId) {
            await this.loadThread(id, { keepExpanded: true });
            const messageId = saved.message_id || this.replyTarget?.id;
            const defaults = await this.orm.call("crm.inbox.compose", "inbox_reply_defaults", [
                messageId, saved.mode || "reply",
            ]);
            Object.assign(this.state.drafts[id], {
                messageId,
                signatures: defaults.signatures, signatureText: defaults.signature_text,
                defaultSignatureId: defaults.signature_id || false,
                identities: defaults.identities || [],
                // the Send-as address saved with the draft (False: the account's own)
                identityId: "identity_id" in saved
                    ? saved.identity_id || false
                    : defaults.identity_id || false,
                quote: defaults.quote, open: true,
            });
            this.state.drafts[id].focusToken++;
        }
    }

    async editOutbox(item) {
        const saved = await this.orm.call("crm.inbox.compose", "inbox_undo_send", [item.id]);
        await this.restoreDraft(saved);
    }

    async cancelOutbox(item) {
        await this.orm.call("crm.inbox.compose", "inbox_cancel_send", [item.id]);
        this.notification.add(_t("Cancelled: it will not be sent."), { type: "info" });
        await this.loadThread(this.state.selectedId, { keepExpanded: true });
    }

    async onSent() {
        this.discardDraft();
        await Promise.all([
            this.loadThread(this.state.selectedId, { keepExpanded: true }),
            this.loadList({ keep: true }),
            this.loadSidebar(),
        ]);
        Promise.resolve().then(() => {
            const el = this.threadRef.el;
            if (el) {
                el.scrollTop = el.scrollHeight;
            }
        });
    }
}

registry.category("actions").add("crm_inbox.client", InboxClient);
