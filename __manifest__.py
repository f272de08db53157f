{
    "name": "CRM Inbox",
    "summary": "Connect personal and shared mailboxes (IMAP/SMTP, Google, Microsoft 365) "
    "to contacts and leads: two-way sync, threaded conversations, replies from Odoo.",
    "version": "18.0.1.0.0",
    "category": "Sales/CRM",
    "author": "crm_inbox contributors",
    "website": "https://github.com/crm-inbox/crm_inbox",
    "license": "LGPL-3",
    "depends": ["crm", "mail"],
    "external_dependencies": {
        "python": ["imapclient", "msal", "dnspython"],
    },
    "data": [
        "security/crm_inbox_groups.xml",
        "security/ir.model.access.csv",
        "security/crm_inbox_security.xml",
        "data/ir_cron_data.xml",
        "views/crm_inbox_message_views.xml",
        "views/crm_inbox_conversation_views.xml",
        "views/crm_inbox_folder_views.xml",
        "views/crm_inbox_account_views.xml",
        "views/res_partner_views.xml",
        "views/crm_lead_views.xml",
        "views/res_config_settings_views.xml",
        "wizard/crm_inbox_compose_views.xml",
        "views/crm_inbox_menus.xml",
    ],
    "assets": {
        "web.assets_tests": ["crm_inbox/static/tests/tours/**/*"],
    },
    "installable": True,
    "application": True,
}
