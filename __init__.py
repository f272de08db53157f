# Odoo imports this addon as ``odoo.addons.crm_inbox``. pytest, collecting the Odoo-free
# engine tests (engine/tests), also imports this file as a plain package named after the
# checkout folder: then there is nothing to load, since models need a running Odoo.
if __name__.startswith("odoo.addons."):
    from . import controllers
    from . import models
    from . import wizard
from .hooks import uninstall_hook
