"""dialogue-monitor: watches the news about the Kosovo–Serbia dialogue.

The package reads as the pipeline it runs (see ``monitor.pipeline``):
fetch → parse → identify → store → match → notify, with the CLI on top.
"""

__version__ = "0.1.0"
