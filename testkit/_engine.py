"""The ``engine`` package beside this test kit, whichever way the kit was imported
(``testkit`` or ``odoo.addons.crm_inbox.testkit``): see the package docstring."""

import importlib

_ROOT = __package__.rpartition(".")[0]


def module(name):
    """``engine.<name>`` of the same import root as this kit."""
    return importlib.import_module(f"{_ROOT}.engine.{name}" if _ROOT else f"engine.{name}")
