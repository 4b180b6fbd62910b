"""The commands people run, outside the traced path: ``cli`` (``weave-run``), ``viewer``
and ``usage`` (``weave-run show``), ``listing`` (``weave-run list``), ``settings_doc``
(``--help`` and the README table), ``scaffold`` (``weave-run new-integration``) and
``testing`` (the pytest plugin for instrumentation authors). Nothing in the agent's
traced path imports this package.
"""
