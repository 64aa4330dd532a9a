"""Triggers gather facts (connector statuses, clock ticks) and hand them to the engine.

They never call the restart endpoint themselves.
"""
