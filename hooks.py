"""Install and uninstall hooks of crm_inbox."""

import logging

_logger = logging.getLogger(__name__)


def uninstall_hook(env):
    """Remove what crm_inbox created at runtime, so nothing keeps acting after an uninstall.

    Records created from the addon's data files (scheduled actions, parameters, groups...)
    are removed by Odoo itself; this removes the rest:

    * the receiving aliases of forwarding accounts, and any other ``mail.alias`` pointing
      at a crm_inbox model (mail sent to them would otherwise bounce or be routed to
      nothing);
    * the per-account outgoing servers (``ir.mail_server`` records bound to an account),
      so no mail leaves through a salesperson's mailbox afterwards;
    * the ``crm_inbox.*`` system parameters written at runtime;
    * the queue_job channel ``root.crm_inbox`` when OCA's queue_job created one.

    :param env: an ``odoo.api.Environment`` (superuser), as Odoo passes it.
    """
    Model = env["ir.model"].sudo()
    models = Model.search([("model", "=like", "crm.inbox.%")])
    aliases = env["mail.alias"].sudo().search([("alias_model_id", "in", models.ids)])
    if "crm.inbox.account" in env and "forward_alias_id" in env["crm.inbox.account"]._fields:
        aliases |= env["crm.inbox.account"].sudo().with_context(
            active_test=False).search([]).forward_alias_id
    _logger.info("crm_inbox uninstall: removing %s mail aliases", len(aliases))
    aliases.unlink()
    servers = env["ir.mail_server"].sudo().with_context(active_test=False)
    if "crm_inbox_account_id" in servers._fields:
        account_servers = servers.search([("crm_inbox_account_id", "!=", False)])
        _logger.info("crm_inbox uninstall: removing %s account outgoing servers",
                     len(account_servers))
        account_servers.unlink()
    env["ir.config_parameter"].sudo().search([("key", "=like", "crm_inbox.%")]).unlink()
    if "queue.job.channel" in env:
        env["queue.job.channel"].sudo().search([("complete_name", "=", "root.crm_inbox")]).unlink()
