from . import crm_inbox_account
from . import crm_inbox_account_oauth
from . import crm_inbox_folder
from . import crm_inbox_message
from . import crm_inbox_conversation
from . import res_partner
from . import crm_lead
from . import res_config_settings
