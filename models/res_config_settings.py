from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    crm_inbox_timeout = fields.Integer(
        "Mail server timeout (seconds)", config_parameter="crm_inbox.timeout", default=30)
    crm_inbox_max_messages_per_run = fields.Integer(
        "Messages per account and sync run", config_parameter="crm_inbox.max_messages_per_run",
        default=2000,
        help="A long first sync proceeds in slices of this size, one per scheduled run.")
    # accounts and access (models/crm_inbox_account_sharing.py)
    crm_inbox_enabled = fields.Boolean(
        related="company_id.crm_inbox_enabled", readonly=False)
    crm_inbox_max_accounts = fields.Integer(
        related="company_id.crm_inbox_max_accounts", readonly=False)
    crm_inbox_deleted_user_mail = fields.Selection(
        related="company_id.crm_inbox_deleted_user_mail", readonly=False)
    group_crm_inbox_read_personal = fields.Boolean(
        "Administrators can read personal mail",
        implied_group="crm_inbox.group_crm_inbox_read_personal",
        group="crm_inbox.group_crm_inbox_manager",
        help="Off (default): the mail of personal accounts is seen by their owner only.")

    # provider detection (engine/discovery.py)
    crm_inbox_ispdb_url = fields.Char(
        "ISPDB URL", config_parameter="crm_inbox.ispdb_url",
        help="Thunderbird ISPDB base URL (HTTPS); the domain is appended.")
    crm_inbox_allow_private_hosts = fields.Boolean(
        "Allow private mail hosts", config_parameter="crm_inbox.allow_private_hosts",
        help="Accept detected servers on loopback, private and link-local addresses "
             "(on-premises mail servers). Cloud metadata addresses stay refused.")
    crm_inbox_dns_server = fields.Char(
        "DNS server for detection", config_parameter="crm_inbox.dns_server",
        help="host or host:port of the DNS server that detection asks (closed networks, "
             "tests). Empty: the system's resolver.")
    # OAuth (engine/oauth.py)
    crm_inbox_google_client_id = fields.Char(
        "Google client ID", config_parameter="crm_inbox.google_client_id")
    crm_inbox_google_client_secret = fields.Char(
        "Google client secret", config_parameter="crm_inbox.google_client_secret")
    crm_inbox_google_auth_endpoint = fields.Char(
        "Google authorization endpoint", config_parameter="crm_inbox.google_auth_endpoint")
    crm_inbox_google_token_endpoint = fields.Char(
        "Google token endpoint", config_parameter="crm_inbox.google_token_endpoint")
    crm_inbox_google_revoke_endpoint = fields.Char(
        "Google revocation endpoint", config_parameter="crm_inbox.google_revoke_endpoint")
    crm_inbox_microsoft_client_id = fields.Char(
        "Microsoft client ID", config_parameter="crm_inbox.microsoft_client_id")
    crm_inbox_microsoft_client_secret = fields.Char(
        "Microsoft client secret", config_parameter="crm_inbox.microsoft_client_secret")
    crm_inbox_microsoft_tenant = fields.Char(
        "Microsoft tenant", config_parameter="crm_inbox.microsoft_tenant",
        help="common (work and personal accounts), organizations, consumers, or your "
             "tenant ID or domain.")
    crm_inbox_microsoft_authority_host = fields.Char(
        "Microsoft authority host", config_parameter="crm_inbox.microsoft_authority_host")
    crm_inbox_signin_warning_days = fields.Integer(
        "Warn before sign-ins expire (days)", config_parameter="crm_inbox.signin_warning_days",
        default=7)
    crm_inbox_oauth_redirect_uri = fields.Char(
        "Redirect URIs", compute="_compute_crm_inbox_oauth_redirect_uri",
        help="Register these callback URLs in the Google Cloud console and the Microsoft "
             "Entra app registration.")

    def _compute_crm_inbox_oauth_redirect_uri(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for settings in self:
            settings.crm_inbox_oauth_redirect_uri = (
                f"{base}/crm_inbox/oauth/google/callback  "
                f"{base}/crm_inbox/oauth/microsoft/callback")
