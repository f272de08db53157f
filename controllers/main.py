"""OAuth 2.0 redirects of the mailbox setup wizard (Google, Microsoft).

``/crm_inbox/oauth/start/<wizard>`` stores the flow (PKCE verifier, nonce) on the
wizard, server-side, and sends the browser to the provider; the provider sends it
back to ``/crm_inbox/oauth/<provider>/callback``, which accepts only a ``state``
signed for the same user and browser session (HMAC, constant-time comparison, as
``google_gmail`` does), then finishes the sign-in and returns to the wizard.
"""

import logging

from odoo import http
from odoo.exceptions import UserError
from odoo.http import request
from werkzeug.exceptions import Forbidden, NotFound

_logger = logging.getLogger(__name__)


class CrmInboxOAuthController(http.Controller):

    @http.route("/crm_inbox/oauth/start/<int:setup_id>", type="http", auth="user",
                methods=["GET"])
    def oauth_start(self, setup_id, **kwargs):
        """Start the sign-in of a setup wizard and redirect to the provider."""
        # the record rule shows a user only their own wizards
        setup = request.env["crm.inbox.account.setup"].search([("id", "=", setup_id)])
        if not setup or setup.create_uid.id != request.env.uid:
            raise NotFound()
        try:
            url = setup._oauth_start(request.session.sid)
        except UserError as exc:
            setup.write({"step": "advanced", "connection_type": "password",
                         "error_message": exc.args[0]})
            return request.redirect(self._wizard_url(setup))
        return request.redirect(url, local=False)

    @http.route("/crm_inbox/oauth/<string:provider>/callback", type="http", auth="user",
                methods=["GET"])
    def oauth_callback(self, provider, state=None, **kwargs):
        """Where the provider sends the browser back, with ``code`` (or ``error``) and
        ``state``."""
        if provider not in ("google", "microsoft"):
            raise NotFound()
        setup = request.env["crm.inbox.account.setup"]._from_oauth_state(
            state, request.session.sid)
        if not setup:
            _logger.warning("crm_inbox: OAuth callback with a state not issued to user %s "
                            "in this session", request.env.uid)
            raise Forbidden()
        params = dict(request.params, state=state)
        params.pop("provider", None)
        setup._oauth_finish(provider, params)
        return request.redirect(self._wizard_url(setup))

    @staticmethod
    def _wizard_url(setup):
        return f"/odoo/action-crm_inbox.crm_inbox_account_setup_action/{setup.id}"
