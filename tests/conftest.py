# The authoring kit's fixtures (spans, instrumentation, vcr_config), on for this repo.
pytest_plugins = ["weave_agent.testing"]
