from . import test_connection
from . import test_sync
from . import test_send
from . import test_crm
from . import test_two_way
from . import test_setup_wizard
from . import test_oauth_flow
from . import test_ui
