"""Bring up the crm_inbox demo: local mail servers, an Odoo database, a synced inbox.

1. starts a private Dovecot (IMAP) and an aiosmtpd (SMTP) server on loopback,
2. fills the IMAP mailbox demo@example.com with 200 realistic messages,
3. creates the Odoo database ``crm_inbox_demo`` with crm_inbox installed,
4. connects a demo account of the admin user to that mailbox and syncs it, and sets up a
   shared support@ mailbox in forwarding mode, fed three requests through Odoo's mail
   gateway (``mail.thread.message_process``, as an MTA pipe would),
5. serves Odoo on http://localhost:8069 until Ctrl-C (then stops the mail servers).

Run through ``scripts/demo.sh`` (installs what is needed first).
"""

import argparse
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from testkit.demo_mail import demo_mailbox
from testkit.mail_servers import DovecotServer, SMTPTestServer

#: The demo SMTP server answers 550 for this recipient (a mailbox that does not exist).
REFUSED_RECIPIENT = "no-such-user@northwind-traders.co.uk"

DEMO_USER = "demo@example.com"
DEMO_PASSWORD = "demo-password"
SUPPORT_USER = "support@example.com"
SUPPORT_PASSWORD = "support-password"

SETUP = """
env = env(context=dict(env.context, tracking_disable=True))
admin = env.ref("base.user_admin")
admin.write({{"email": {email!r}, "name": "Demo Sales"}})
for name, email in [("Acme Industries: line 3 retrofit", "elodie.durand@acme-industries.fr"),
                    ("Northwind Traders: annual supply contract",
                     "sarah.oconnor@northwind-traders.co.uk")]:
    if not env["crm.lead"].search([("email_from", "=", email)]):
        env["crm.lead"].create({{"name": name, "email_from": email, "type": "opportunity",
                                 "user_id": admin.id}})
# the demo stays on loopback: stock crons that call Odoo's cloud services are switched off
for xmlid in ("crm_iap_enrich.ir_cron_lead_enrichment", "mail.ir_cron_module_update_notification"):
    cron = env.ref(xmlid, raise_if_not_found=False)
    if cron:
        cron.active = False
Account = env["crm.inbox.account"]
env["ir.config_parameter"].sudo().set_param("crm_inbox.allow_private_hosts", "True")  # loopback
account = Account.search([("email", "=", {email!r})]) or Account.create({{"email": {email!r}}})
account.write({{
    "name": "Demo mailbox", "user_id": admin.id, "sync_from": "3m",
    "imap_host": "127.0.0.1", "imap_port": {imap_port}, "imap_security": "none",
    "imap_password": {password!r},
    "smtp_host": "127.0.0.1", "smtp_port": {smtp_port}, "smtp_security": "none",
}})
account.with_user(admin).action_test_connection()
new = account._sync()
env.cr.commit()
print("crm_inbox demo: synced %s messages into %s conversations" % (
    new, env["crm.inbox.conversation"].search_count([("account_id", "=", account.id)])))
# a shared support@ mailbox in forwarding mode, fed through Odoo's mail gateway
domain = env["mail.alias.domain"].search([], limit=1) or env["mail.alias.domain"].create(
    {{"name": "inbox.example.com"}})
env.company.alias_domain_id = domain
support = Account.search([("email", "=", {support!r})]) or Account.sudo().create({{
    "email": {support!r}, "name": "Support", "account_type": "shared",
    "connection_type": "forwarding", "user_id": admin.id,
    "smtp_host": "127.0.0.1", "smtp_port": {smtp_port}, "smtp_security": "none",
    "smtp_username": {support!r}, "smtp_password": {support_password!r},
}})
support.with_user(admin).action_test_connection()
requests = [
    ("Lucía Fernández", "lucia.fernandez@iberica-logistica.es", "Pedido 289: entrega retrasada",
     "Buenos días,\\n\\nel pedido 289 no ha llegado todavía. ¿Pueden confirmar la fecha?\\n\\nGracias,\\nLucía"),
    ("Sarah O'Connor", "sarah.oconnor@northwind-traders.co.uk", "Invoice 1182 shows the old price",
     "Hello,\\n\\ninvoice 1182 still uses last year's unit price. Could you send a corrected one?\\n\\nSarah"),
    ("Kenji Watanabe", "kenji.watanabe@sakura-denki.jp", "保守契約の更新について",
     "ご担当者様\\n\\n保守契約の更新手続きについて教えていただけますか。\\n\\n渡辺"),
]
for i, (name, email, subject, body) in enumerate(requests):
    raw = (f"Delivered-To: {{support.forward_address}}\\r\\nFrom: {{name}} <{{email}}>\\r\\n"
           f"To: Support <{support}>\\r\\nSubject: {{subject}}\\r\\n"
           f"Message-ID: <support-demo-{{i}}@{{email.split('@')[1]}}>\\r\\n"
           f"Date: Tue, 01 Dec 2026 0{{i + 8}}:15:00 +0000\\r\\nMIME-Version: 1.0\\r\\n"
           f"Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n{{body}}\\r\\n").encode()
    env["mail.thread"].message_process(False, raw)
env.cr.commit()
print("crm_inbox demo: %s forwarded to %s, %s conversations" % (
    {support!r}, support.forward_address,
    env["crm.inbox.conversation"].search_count([("account_id", "=", support.id)])))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="crm_inbox_demo")
    parser.add_argument("--http-port", type=int, default=8069)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--no-serve", action="store_true", help="stop after the sync")
    args = parser.parse_args()

    py = sys.executable
    work = tempfile.mkdtemp(prefix="crm-inbox-demo-")
    addons = os.path.join(work, "addons")
    os.makedirs(addons)
    os.symlink(REPO, os.path.join(addons, "crm_inbox"))
    odoo = [py, "-m", "odoo", "-d", args.db, f"--addons-path={addons}",
            f"--data-dir={os.path.join(work, 'data')}"]

    with DovecotServer(users={DEMO_USER: DEMO_PASSWORD}) as dovecot, \
            SMTPTestServer(users={DEMO_USER: DEMO_PASSWORD,
                                  SUPPORT_USER: SUPPORT_PASSWORD}) as smtpd:
        # a recipient the server refuses (550): shows a failed send in the demo
        smtpd.refused_recipients.add(REFUSED_RECIPIENT)
        print(f"IMAP: 127.0.0.1:{dovecot.imap_port} (SSL {dovecot.imaps_port}), "
              f"SMTP: 127.0.0.1:{smtpd.port}, mailbox {DEMO_USER} / {DEMO_PASSWORD}")
        for message in demo_mailbox(owner=DEMO_USER, count=args.count):
            dovecot.append(DEMO_USER, message.folder, message.raw, message.flags,
                           message.msg_time)
        print(f"Loaded {args.count} demo messages into the IMAP mailbox")
        subprocess.run(["dropdb", "--if-exists", args.db], check=False)
        subprocess.run(odoo + ["-i", "crm_inbox", "--without-demo=all", "--stop-after-init",
                               "--log-level=warn"], check=True)
        script = SETUP.format(email=DEMO_USER, password=DEMO_PASSWORD,
                              imap_port=dovecot.imap_port, smtp_port=smtpd.port,
                              support=SUPPORT_USER, support_password=SUPPORT_PASSWORD)
        subprocess.run([py, "-m", "odoo", "shell", "-d", args.db, f"--addons-path={addons}",
                        f"--data-dir={os.path.join(work, 'data')}", "--no-http",
                        "--log-level=warn"], input=script, text=True, check=True)
        if args.no_serve:
            return
        print(f"\nOdoo with the synced demo inbox: http://localhost:{args.http_port}/odoo/"
              "crm-inbox")
        print("Login: admin   Password: admin   (Ctrl-C stops Odoo and the mail servers)\n")
        try:
            subprocess.run(odoo + [f"--http-port={args.http_port}", "--log-level=warn"], check=False)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
