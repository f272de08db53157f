/** @odoo-module **/
// Small pure helpers of the inbox client: dates as mail clients show them, keyboard guards.
import { _t } from "@web/core/l10n/translation";

const { DateTime } = luxon;

/**
 * A server datetime (UTC, "2026-11-29 08:13:00" or ISO with or without "Z") as local time.
 * @param {string|false} value
 * @returns {luxon.DateTime|null}
 */
export function parseUtc(value) {
    if (!value) {
        return null;
    }
    const iso = String(value).replace(" ", "T");
    const date = DateTime.fromISO(iso, { zone: "utc" });
    return date.isValid ? date.toLocal() : null;
}

/**
 * The date of a list row: the time today, "Nov 30" this year, the full date before.
 * @param {string|false} value UTC datetime
 * @param {luxon.DateTime} [now]
 * @returns {string}
 */
export function listDate(value, now = DateTime.local()) {
    const date = parseUtc(value);
    if (!date) {
        return "";
    }
    if (date.hasSame(now, "day")) {
        return date.toLocaleString(DateTime.TIME_SIMPLE);
    }
    if (date.hasSame(now, "year")) {
        return date.toLocaleString({ month: "short", day: "numeric" });
    }
    return date.toLocaleString(DateTime.DATE_MED);
}

/**
 * The date of a message in the thread: "Nov 29, 08:13" (with the year when not this year).
 * @param {string|false} value UTC datetime
 * @returns {string}
 */
export function messageDate(value) {
    const date = parseUtc(value);
    if (!date) {
        return "";
    }
    const now = DateTime.local();
    if (date.hasSame(now, "day")) {
        return date.toLocaleString(DateTime.TIME_SIMPLE);
    }
    const opts = { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" };
    if (!date.hasSame(now, "year")) {
        opts.year = "numeric";
    }
    return date.toLocaleString(opts);
}

/**
 * "synced 2 min ago"
 * @param {string|false} value UTC datetime
 * @returns {string}
 */
export function syncedAgo(value) {
    const date = parseUtc(value);
    if (!date) {
        return _t("not synced yet");
    }
    return _t("synced %s", date.toRelative() || "");
}

/**
 * The name to show for an address: the display name, else the address.
 * @param {{name: string, email: string}|false} addr
 * @returns {string}
 */
export function addrName(addr) {
    if (!addr) {
        return "";
    }
    return addr.name || addr.email || "";
}

/**
 * True when the keyboard event is typed into a field (input, textarea, select, editor):
 * no inbox shortcut fires then.
 * @param {KeyboardEvent} ev
 * @returns {boolean}
 */
export function isTyping(ev) {
    const target = ev.target;
    if (!(target instanceof HTMLElement)) {
        return false;
    }
    if (target.isContentEditable) {
        return true;
    }
    if (/^(input|textarea|select)$/i.test(target.tagName)) {
        return !target.matches("input[type=checkbox], input[type=radio]");
    }
    return false;
}

/**
 * Read a File as base64 (no data: prefix), to create an ir.attachment.
 * @param {File} file
 * @returns {Promise<string>}
 */
export function fileToBase64(file) {
    return new Promise((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
        reader.onerror = () => reject(reader.error);
        reader.readAsDataURL(file);
    });
}

/** Byte size as "12 KB". */
export function humanSize(size) {
    if (!size) {
        return "";
    }
    if (size < 1024) {
        return `${size} B`;
    }
    if (size < 1024 * 1024) {
        return `${Math.round(size / 1024)} KB`;
    }
    return `${(size / 1024 / 1024).toFixed(1)} MB`;
}
