"""
litellm-formula's logic, shipped to minions by ``saltutil.sync_all`` (as ``_utils/litellm_formula``).

Plain Python with no Salt dunders, one concern per module: ``schema`` (the pillar keys and their
checks), ``render`` (settings -> files and unit values), ``venv`` (what a virtualenv holds),
``lock`` (hash locks), ``install`` (side-by-side virtualenvs: build, switch, trial start),
``health`` (HTTP checks and verdicts), ``keys`` (the master key on disk), ``record`` (the deployment
record on the minion), ``ownership`` (what the formula created or adopted, and the takeover rules).
``_modules/litellm.py`` wires them to Salt; tests import them directly.
"""
