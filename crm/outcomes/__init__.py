"""Outcomes: KPI rows of engagements (the firm fills actuals in the portal) and the yearly outcome-survey
rounds (성과조사) after closing."""
