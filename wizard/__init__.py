from . import crm_inbox_compose
