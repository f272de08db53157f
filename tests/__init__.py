from . import test_connection
from . import test_sync
from . import test_send
from . import test_crm
from . import test_two_way
