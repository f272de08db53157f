from . import crm_inbox_compose
from . import crm_inbox_account_disconnect
from . import crm_inbox_account_setup
from . import crm_inbox_compose_checks
from . import crm_inbox_compose_identity
