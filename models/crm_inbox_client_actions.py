"""The write side of the inbox client (static/src/inbox): actions on conversations (the
inline reply box is in wizard/crm_inbox_compose.py).

Every change goes through the two-way methods of ``crm.inbox.message`` (the IMAP server is
changed first, then Odoo), so an action taken in the client reaches the mailbox exactly as
one taken on a message form.
"""

from odoo import api, models
from odoo.exceptions import UserError

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
