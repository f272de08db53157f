"""The write side of the inbox client (static/src/inbox): actions on conversations and the
inline reply box.

Every change goes through the two-way methods of ``crm.inbox.message`` (the IMAP server is
changed first, then Odoo), so an action taken in the client reaches the mailbox exactly as
one taken on a message form.
"""

from markupsafe import Markup, escape
from odoo import api, models
from odoo.exceptions import UserError
from odoo.tools import html2plaintext, is_html_empty

#: Actions of :meth:`CrmInboxConversationClient.inbox_action`.
INBOX_ACTIONS = ("read", "unread", "flag", "unflag", "archive", "delete", "move", "assign")
#: Folder roles whose copies stay where they are when a conversation is archived or moved:
#: the mail we sent stays in Sent, drafts in Drafts.
KEEP_ROLES = ("\\Sent", "\\Drafts")


class CrmInboxConversationClient(models.Model):
    _inherit = "crm.inbox.conversation"

    @api.model
    def inbox_action(self, conversation_ids, action, value=None):
        """Apply one action of the inbox client to conversations, on the server and in Odoo.

        :param conversation_ids: list of ``crm.inbox.conversation`` ids the user can read.
        :param action: one of :data:`INBOX_ACTIONS`:

            - ``"read"``: marks the unread emails read (``value``: optional list of
              ``crm.inbox.message`` ids to restrict to, e.g. the ones opened);
            - ``"unread"``: marks the newest email unread (as webmail does);
            - ``"flag"`` / ``"unflag"``: flags the newest email / unflags every email;
            - ``"archive"``: moves the emails to the account's Archive folder (sent and
              draft copies stay where they are);
            - ``"delete"``: deletes every email (to Trash, or expunged from Trash) and the
              conversation when nothing else is left on it;
            - ``"move"``: ``value`` is a ``crm.inbox.folder`` id of the same account;
            - ``"assign"``: ``value`` is a ``res.users`` id, or ``False`` to unassign.
        :returns: ``{"ok": True}``
        :raises UserError: unknown action, a folder of another account, an assignee who
            cannot read the account, or the mail server refusing the change (the message
            names the fix). Access errors as for the emails themselves (shared accounts
            need the "reply" level to change mail).
        """
        if action not in INBOX_ACTIONS:
            raise UserError(self.env._("Unknown inbox action “%(action)s”: use one of %(all)s.",
                                       action=action, all=", ".join(INBOX_ACTIONS)))
        conversations = self.browse([int(i) for i in conversation_ids or []]).exists()
        if not conversations:
            raise UserError(self.env._("The conversation no longer exists: reload the list."))
        conversations.check_access("read")
        messages = conversations.inbox_message_ids
        if action == "assign":
            conversations._inbox_assign(value)
        elif action == "read":
            todo = messages.filtered(lambda m: not m.is_read)
            if value:
                todo = todo.filtered(lambda m: m.id in set(value))
            todo.action_mark_read()
        elif action == "unread":
            for conversation in conversations:
                conversation.inbox_message_ids.sorted(
                    lambda m: (m.date, m.id))[-1:].action_mark_unread()
        elif action == "flag":
            for conversation in conversations:
                emails = conversation.inbox_message_ids
                if not emails.filtered("is_flagged"):
                    emails.sorted(lambda m: (m.date, m.id))[-1:].action_flag()
        elif action == "unflag":
            messages.filtered("is_flagged").action_unflag()
        elif action == "archive":
            movable = messages.filtered(lambda m: m.folder_id.special_use not in KEEP_ROLES
                                        and m.folder_id.special_use != "\\Archive")
            movable.action_archive_mail()
        elif action == "move":
            folder = self.env["crm.inbox.folder"].browse(int(value or 0)).exists()
            if not folder:
                raise UserError(self.env._("Choose the folder to move the conversation to."))
            if conversations.account_id != folder.account_id:
                raise UserError(self.env._(
                    "The folder %(folder)s belongs to another mailbox: choose a folder of "
                    "%(email)s.", folder=folder.display_label,
                    email=", ".join(conversations.account_id.mapped("email"))))
            messages.filtered(lambda m: m.folder_id.special_use not in KEEP_ROLES)._move_to(
                folder)
        elif action == "delete":
            messages.action_delete_mail()
            # a conversation with notes stays (its emails are gone): hide nothing silently
        return {"ok": True}

    def _inbox_assign(self, user_id):
        """Assign these conversations to *user_id* (``False``: nobody)."""
        self.check_access("write")
        user = self.env["res.users"].browse(int(user_id)) if user_id else self.env["res.users"]
        if user:
            user = user.exists()
            if not user or user.share:
                raise UserError(self.env._("Choose an internal user to assign the "
                                           "conversation to."))
            for account in self.account_id:
                if not self.env["crm.inbox.account"].with_user(user).search_count(
                        [("id", "=", account.id)]):
                    raise UserError(self.env._(
                        "%(user)s cannot read the mailbox %(email)s: share it with them "
                        "first (Accounts > Sharing).", user=user.name, email=account.email))
        self.write({"user_id": user.id or False})

    @api.model
    def inbox_assignees(self, conversation_id, search=""):
        """Users a conversation can be assigned to (who can read its account).

        :returns: list of ``{"id", "name"}``, at most 20, by name.
        """
        conversation = self.browse(int(conversation_id)).exists()
        conversation.check_access("read")
        account = conversation.account_id.sudo()
        users = self.env["res.users"].search(
            [("share", "=", False), ("name", "ilike", search or "")], order="name", limit=80)
        found = []
        for user in users:
            if account.account_type == "personal" and user != account.user_id:
                continue
            if self.env["crm.inbox.account"].with_user(user).search_count(
                    [("id", "=", account.id)]):
                found.append({"id": user.id, "name": user.name})
            if len(found) == 20:
                break
        return found


class CrmInboxComposeClient(models.TransientModel):
    _inherit = "crm.inbox.compose"

    @api.model
    def _inbox_parent(self, message_id):
        parent = self.env["crm.inbox.message"].browse(int(message_id)).exists()
        if not parent:
            raise UserError(self.env._("The email replied to no longer exists: reload the "
                                       "conversation."))
        parent.check_access("read")
        return parent

    @api.model
    def _inbox_defaults(self, parent, mode):
        if mode not in ("reply", "reply_all", "forward"):
            raise UserError(self.env._("Reply, Reply all or Forward only."))
        account = parent.account_id
        return self.with_context(
            default_account_id=account.id, default_parent_id=parent.id, default_mode=mode,
        ).default_get(["account_id", "signature_id", "parent_id", "mode", "to", "cc", "bcc",
                       "subject", "body", "attachment_ids"])

    @api.model
    def inbox_reply_defaults(self, message_id, mode="reply"):
        """What the inline reply box shows before the user types.

        :param message_id: the ``crm.inbox.message`` replied to or forwarded.
        :param mode: ``"reply"``, ``"reply_all"`` or ``"forward"``.
        :returns: ``{"to", "cc", "subject": str, "account_id": id, "signature_id": id|False,
            "signatures": [{"id", "name", "text"}], "signature_text": str (the user's
            default signature when no signature record exists), "quote": str (the quoted
            email as plain text, folded in the box), "attachments": [{"id", "name",
            "mimetype"}] (forward: the original's attachments)}``
        """
        parent = self._inbox_parent(message_id)
        values = self._inbox_defaults(parent, mode)
        account = parent.account_id
        signatures = self.env["crm.inbox.signature"].search(
            [("user_id", "=", self.env.uid), ("account_id", "in", [False, account.id])])
        attachments = self.env["ir.attachment"].browse(
            values.get("attachment_ids", [(6, 0, [])])[0][2])
        quote = ""
        body = str(values.get("body") or "")
        if "<blockquote>" in body:
            quote = html2plaintext(body[body.index("<blockquote>"):]).strip()
        return {
            "to": values.get("to") or "",
            "cc": values.get("cc") or "",
            "subject": values.get("subject") or "",
            "account_id": account.id,
            "signature_id": values.get("signature_id") or False,
            "signatures": [{"id": s.id, "name": s.name, "text": _signature_text(s.body)}
                           for s in signatures],
            "signature_text": _signature_text(self.env.user.signature),
            "quote": quote,
            "attachments": [{"id": a.id, "name": a.name, "mimetype": a.mimetype}
                            for a in attachments],
        }

    @api.model
    def inbox_send(self, message_id, mode, values):
        """Send the inline reply box through the composer (``action_send``).

        :param message_id: the ``crm.inbox.message`` replied to or forwarded.
        :param mode: ``"reply"``, ``"reply_all"`` or ``"forward"``.
        :param values: ``{"to", "cc", "bcc", "subject": str, "text": str (what the user
            typed, plain text), "signature_id": id|False (False: the user's own Odoo
            signature), "attachment_ids": [ir.attachment ids]}``; keys left out keep the
            composer's defaults.
        :returns: ``{"ok": True, "warning": str|False}`` (warning: the server refused some
            recipients; the others got the mail).
        :raises UserError: as :meth:`crm.inbox.compose.action_send` (nothing sent, the box
            keeps the draft).
        """
        parent = self._inbox_parent(message_id)
        defaults = self._inbox_defaults(parent, mode)
        text = (values.get("text") or "").strip()
        if not text and mode != "forward":
            raise UserError(self.env._("Write your reply before sending it."))
        vals = {k: v for k, v in defaults.items() if k in self._fields}
        for key in ("to", "cc", "bcc", "subject"):
            if key in values:
                vals[key] = values[key] or False
        signature = self.env["crm.inbox.signature"]
        if "signature_id" in values:
            signature = signature.browse(int(values["signature_id"] or 0)).exists()
            if signature and signature.user_id != self.env.user:
                raise UserError(self.env._("Choose one of your own signatures."))
        else:
            signature = signature.browse(defaults.get("signature_id") or 0).exists()
        vals["signature_id"] = signature.id or False
        body = str(defaults.get("body") or "")
        # the composer's quote: "<p>On ..., X wrote:</p><blockquote>...</blockquote>"
        quote = body[body.rfind("<p>", 0, body.index("<blockquote>")):] \
            if "<blockquote>" in body else ""
        typed = Markup("").join(
            Markup("<p>%s</p>") % Markup("<br>").join(escape(line) for line in para.split("\n"))
            for para in text.split("\n\n")) if text else Markup("<p><br></p>")
        vals["body"] = typed + self._signature_block(
            signature.body if signature else self.env.user.signature) + Markup(quote)
        if "attachment_ids" in values:
            own = self.env["ir.attachment"].browse(values["attachment_ids"] or []).exists()
            own.check_access("read")
            # forward: default_get copied the original's attachments again; the box sends
            # the copies it showed (and those the user dropped)
            copies = self.env["ir.attachment"].browse(
                defaults.get("attachment_ids", [(6, 0, [])])[0][2]) - own
            copies.unlink()
            vals["attachment_ids"] = [(6, 0, own.ids)]
        composer = self.create(vals)
        result = composer.action_send()
        warning = False
        if isinstance(result, dict) and result.get("tag") == "display_notification":
            warning = result["params"]["message"]
        return {"ok": True, "warning": warning}


def _signature_text(html):
    """A signature as the plain text the reply box previews ("" when empty)."""
    if not html or is_html_empty(html):
        return ""
    text = html2plaintext(str(html)).strip()
    return text if text.startswith("--") else f"-- \n{text}"
