"""Insights: KPIs and dashboards of the operations room, entities, ministers and the public.

Request figures come from the case store (read-only); conversation figures from Rasa's event
broker, with no message text or identity. See ../shared/DESIGN.md, "Processes" and "Rooms".
"""
