"""The hostile mail corpus (tests/hostile_mail/*.eml) in real headless Chromium.

Every vector is APPENDed to a real Dovecot, synced into Odoo as the sync cron does,
then opened through every display path of a message:

1. the conversation form (the thread of sandboxed frames),
2. the message form,
3. the contact's chatter (its synced emails, every page),
4. the lead's chatter,
5. the Reply composer (quoted body, in the editor: Odoo's own origin),
6. the Forward composer.

Watched: a dialog handler (CDP ``Page.javascriptDialogOpening``), the browser console
(Odoo's ChromeBrowser fails on console errors), ``window.__pwned`` of the web client,
the DOM of each frame (no script, no event handler, no ``javascript:`` URL, no nested
frame or plugin), and a second loopback HTTP origin, http://127.0.0.2, standing for
"remote": every request the browser makes outside 127.0.0.1 reaches the test through
CDP request interception (``fetch_proxy``) and is forwarded to that real server, which
counts it. Before consent nothing may reach it; after "Show remote images", only
plain ``<img src>`` requests (paths ``/img/...``).
"""

import glob
import json
import logging
import os
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest.mock import patch
from urllib.parse import urlsplit

from odoo import SUPERUSER_ID
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import ChromeBrowser

from .common import start_mail_servers

_logger = logging.getLogger(__name__)
CORPUS = os.path.join(os.path.dirname(__file__), "hostile_mail")
VICTIM = "victim@example.com"
VICTIM_PASSWORD = "victim-pass"
GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
       b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


class RemoteOrigin:
    """A real HTTP server on 127.0.0.2 (another loopback origin) counting every request."""

    def __init__(self):
        self.paths = []
        lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with lock:
                    origin.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.send_header("Content-Length", str(len(GIF)))
                self.end_headers()
                self.wfile.write(GIF)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# JavaScript run in the web client: opens every path, checks the frames, reports failures
# with console.error (which fails the test), success with "test successful".
RUNNER = r"""
(async () => {
    const DATA = __DATA__;
    const env = odoo.__WOWL_DEBUG__.root.env;
    const action = env.services.action;
    const SANDBOX = "allow-same-origin allow-popups allow-popups-to-escape-sandbox";
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    async function waitFor(fn, what, timeout = 15000) {
        const start = Date.now();
        while (Date.now() - start < timeout) {
            const value = fn();
            if (value) {
                return value;
            }
            await sleep(50);
        }
        throw new Error("timeout waiting for " + what);
    }
    function inert(root, where) {
        for (const el of root.querySelectorAll("*")) {
            for (const attr of el.attributes) {
                const name = attr.name.toLowerCase();
                const value = attr.value.replace(/[\s\x00-\x20]/g, "").toLowerCase();
                if (name.startsWith("on")) {
                    throw new Error(`${where}: event handler ${name} on <${el.tagName}>`);
                }
                if (/^(javascript|vbscript|data:text)/.test(value) && !name.startsWith("data-")) {
                    throw new Error(`${where}: ${name}=${attr.value} on <${el.tagName}>`);
                }
            }
        }
        const active = root.querySelector("script, iframe, frame, object, embed, base, meta[http-equiv=refresh], link, form");
        if (active) {
            throw new Error(`${where}: active element <${active.tagName}> in the body`);
        }
    }
    function checkPage(where) {
        if (window.__pwned) {
            throw new Error(`${where}: script ran in Odoo's origin`);
        }
    }
    async function checkFrames(where, expected) {
        const frames = await waitFor(() => {
            const found = [...document.querySelectorAll("iframe.o_crm_inbox_mail_iframe")];
            const ready = found.filter((f) => f.contentDocument?.readyState === "complete" &&
                f.contentDocument.URL === "about:srcdoc");
            return ready.length >= expected && found.length === ready.length && ready;
        }, `${expected} frames on ${where}`);
        for (const frame of frames) {
            if (frame.getAttribute("sandbox") !== SANDBOX) {
                throw new Error(`${where}: frame sandbox is "${frame.getAttribute("sandbox")}"`);
            }
            const doc = frame.contentDocument;
            const csp = doc.head.querySelector("meta[http-equiv='Content-Security-Policy']");
            if (!csp || !csp.content.includes("default-src 'none'")) {
                throw new Error(`${where}: frame without its CSP`);
            }
            for (const details of doc.querySelectorAll("details")) {
                details.open = true;
            }
            inert(doc.body, where);
            if (frame.contentWindow.__pwned) {
                throw new Error(`${where}: script ran in the frame`);
            }
        }
        checkPage(where);
        return frames;
    }
    async function openForm(model, id) {
        await action.doAction({
            type: "ir.actions.act_window", res_model: model, res_id: id,
            views: [[false, "form"]], target: "current",
        }, { clearBreadcrumbs: true });
        await waitFor(() => document.querySelector(".o_form_view .o_form_sheet"), model + " form");
    }
    async function chatterEmails(model, id, expected) {
        // the synced emails in the record's chatter, every page of them
        await openForm(model, id);
        const cards = () => document.querySelectorAll(".o-mail-Chatter .o_crm_inbox_chatter_email");
        await waitFor(() => cards().length, `${model} ${id} chatter emails`);
        for (let page = 0; page < 20 && cards().length < expected; page++) {
            const more = [...document.querySelectorAll(".o-mail-Chatter .o-mail-Thread button")]
                .find((b) => b.textContent.includes("Load More"));
            if (!more) {
                break;
            }
            const before = cards().length;
            more.click();
            await waitFor(() => cards().length > before, `${model} ${id} chatter page ${page + 2}`);
        }
        if (cards().length !== expected) {
            throw new Error(`${model} ${id}: ${cards().length} emails in the chatter, expected ${expected}`);
        }
        await checkFrames(`${model} ${id} chatter`, expected);
        await sleep(300);
    }
    if (DATA.phase === "before") {
        console.log(`hostile mail: ${DATA.messages.length} messages, before consent`);
        for (const conv of DATA.conversations) {
            await openForm("crm.inbox.conversation", conv.id);
            await checkFrames(`conversation ${conv.id}`, conv.count);
        }
        console.log("hostile mail: conversations done");
        for (const message of DATA.messages) {
            await openForm("crm.inbox.message", message.id);
            await checkFrames(`message ${message.name}`, 1);
            for (const mode of ["action_reply", "action_forward"]) {
                // as the form's button does (/web/dataset/call_button)
                await action.doActionButton({
                    type: "object", name: mode, resModel: "crm.inbox.message",
                    resId: message.id, resIds: [message.id],
                });
                const editable = await waitFor(() => document.querySelector(".o_dialog .odoo-editor-editable"), "composer editor");
                await sleep(100);
                inert(editable, `${mode} ${message.name}`);
                checkPage(`${mode} ${message.name}`);
                await action.doAction({ type: "ir.actions.act_window_close" });
                await waitFor(() => !document.querySelector(".o_dialog"), "composer closed");
            }
        }
        console.log("hostile mail: message forms, Reply and Forward done");
        await chatterEmails("res.partner", DATA.partner, DATA.partner_emails);
        await chatterEmails("crm.lead", DATA.lead, DATA.lead_emails);
        // the "Show remote images" bar of one message re-renders it on the server
        await openForm("crm.inbox.message", DATA.button_message);
        const button = await waitFor(() => document.querySelector(".o_crm_inbox_show_remote"), "Show remote images");
        button.click();
        await waitFor(() => !document.querySelector(".o_crm_inbox_show_remote"), "bar gone");
        await checkFrames("after Show remote images", 1);
        await sleep(1000);
    } else {
        for (const conv of DATA.conversations) {
            await openForm("crm.inbox.conversation", conv.id);
            await checkFrames(`conversation ${conv.id} after consent`, conv.count);
            await sleep(500);
        }
        for (const message of DATA.messages) {
            await openForm("crm.inbox.message", message.id);
            await checkFrames(`message ${message.name} after consent`, 1);
        }
        await sleep(1000);
    }
    checkPage("end");
})().then(() => console.log("test successful"), (e) => console.error("hostile mail: " + (e.stack || e)));
"""


@tagged("post_install", "-at_install")
class TestHostileMailBrowser(HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        start_mail_servers(cls, {VICTIM: VICTIM_PASSWORD})
        cls.remote = RemoteOrigin()
        cls.addClassCleanup(cls.remote.close)
        cls.user = new_test_user(
            cls.env, login="crm_inbox_victim", name="Vic Victim", email=VICTIM,
            groups="base.group_user,sales_team.group_sale_salesman,crm_inbox.group_crm_inbox_user")
        cls.partner = cls.env["res.partner"].create(
            {"name": "Mallory Attacker", "email": "mallory@attacker.example"})
        cls.lead = cls.env["crm.lead"].create(
            {"name": "Mallory's deal", "partner_id": cls.partner.id, "user_id": cls.user.id})
        cls.files = sorted(glob.glob(os.path.join(CORPUS, "*.eml")))
        for path in cls.files:
            with open(path, "rb") as handle:
                cls.dovecot.append(VICTIM, "INBOX", handle.read())
        # the fixture servers are on loopback, refused unless private hosts are allowed
        cls.env["ir.config_parameter"].sudo().set_param("crm_inbox.allow_private_hosts", "True")
        cls.account = cls.env["crm.inbox.account"].with_user(cls.user).create({
            "email": VICTIM, "user_id": cls.user.id,
            "imap_host": cls.dovecot.host, "imap_port": cls.dovecot.imap_port,
            "imap_security": "none", "imap_password": VICTIM_PASSWORD,
            "smtp_host": cls.smtpd.host, "smtp_port": cls.smtpd.port, "smtp_security": "none",
            "sync_from": "3m", "create_partners": False,
        })
        cls.account.action_test_connection()
        cls.account.with_user(SUPERUSER_ID)._sync()  # as the sync cron does

    def setUp(self):
        super().setUp()
        self.dialogs = []
        self.external = []
        test = self
        original_init = ChromeBrowser.__init__

        def init(browser, *args, **kwargs):
            original_init(browser, *args, **kwargs)

            def on_dialog(**params):
                test.dialogs.append(params.get("message"))
                browser._websocket_send("Page.handleJavaScriptDialog", params={"accept": True})
            browser._handlers["Page.javascriptDialogOpening"] = on_dialog

        patcher = patch.object(ChromeBrowser, "__init__", init)
        patcher.start()
        self.addCleanup(patcher.stop)

    def fetch_proxy(self, url):
        """Every browser request outside 127.0.0.1: forwarded to the remote origin."""
        parts = urlsplit(url)
        self.external.append(url)
        if parts.hostname == "127.0.0.2":
            target = f"http://127.0.0.2:{self.remote.port}{parts.path or '/'}"
            if parts.query:
                target += "?" + parts.query
            with urllib.request.urlopen(target, timeout=5) as response:
                body = response.read()
            response = self.make_fetch_proxy_response(body)
            response["responseHeaders"] = [{"name": "content-type", "value": "image/gif"},
                                           {"name": "cache-control", "value": "no-store"}]
            return response
        return super().fetch_proxy(url)

    def _data(self, phase):
        messages = self.env["crm.inbox.message"].search(
            [("account_id", "=", self.account.id)], order="id")
        names = {m.id: (m.subject or "").split(": ", 1)[-1] for m in messages}
        return {
            "phase": phase,
            "conversations": [{"id": c.id, "count": len(c.inbox_message_ids)}
                              for c in messages.conversation_id],
            "messages": [{"id": m.id, "name": names[m.id]} for m in messages],
            "partner": self.partner.id,
            "lead": self.lead.id,
            "partner_emails": self.partner.with_user(self.user).crm_inbox_email_count,
            "lead_emails": self.lead.with_user(self.user).crm_inbox_email_count,
            "button_message": messages.filtered(
                lambda m: names[m.id] == "tracking-pixel").id,
        }

    def _run(self, phase):
        code = RUNNER.replace("__DATA__", json.dumps(self._data(phase)))
        self.browser_js("/odoo", code, ready="!!odoo.__WOWL_DEBUG__?.root?.env?.services?.action",
                        login="crm_inbox_victim", timeout=900)

    def test_hostile_corpus_is_inert_on_every_display_path(self):
        messages = self.env["crm.inbox.message"].search([("account_id", "=", self.account.id)])
        self.assertGreaterEqual(len(self.files), 60)
        self.assertEqual(len(messages), len(self.files), "every vector synced")
        self.assertEqual(messages.author_id, self.partner)
        self.assertIn(self.lead, messages.conversation_id.lead_ids)
        # before consent: nothing ran, nothing remote was fetched
        self._run("before")
        self.assertEqual(self.dialogs, [], "no dialog opened")
        remote = set(self.remote.paths)
        self.assertEqual(remote, {"/img/pixel.gif"},
                         "before consent, only the image of the message whose Show remote images "
                         "button was clicked (tracking-pixel) may load")
        self.assertEqual([u for u in self.external if "127.0.0.2" not in u], [])
        # after consent on every message: images, and only images
        self.remote.paths.clear()
        messages.with_user(self.user).action_show_remote_content()
        self._run("after")
        self.assertEqual(self.dialogs, [])
        loaded = set(self.remote.paths)
        self.assertTrue(loaded, "remote images load after consent")
        self.assertEqual({p for p in loaded if not p.startswith("/img/")}, set(),
                         "after consent only <img src> loads: no CSS, media, font, frame")
        self.assertIn("/img/pixel.gif", loaded)
        # attachments: HTML/SVG stored as text/plain, served as such (never rendered inline)
        self.authenticate("crm_inbox_victim", "crm_inbox_victim")
        risky = self.env["ir.attachment"].search([
            ("res_model", "=", "crm.inbox.message"), ("res_id", "in", messages.ids),
            ("name", "in", ["evil.svg", "evil.html", "invoice.html"])])
        self.assertEqual(len(risky), 3)
        for attachment in risky:
            response = self.url_open(f"/web/content/{attachment.id}")
            self.assertEqual(response.status_code, 200)
            self.assertTrue(response.headers["Content-Type"].startswith("text/plain"),
                            f"{attachment.name}: {response.headers['Content-Type']}")
            self.assertEqual(response.headers.get("X-Content-Type-Options"), "nosniff")
        _logger.info("crm_inbox: hostile mail corpus: %s vectors x 6 display paths inert in "
                     "Chromium; after consent loaded %s", len(self.files), sorted(loaded))
