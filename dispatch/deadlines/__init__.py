"""The deadline clock: SLA policies, warnings and the escalation ladder, incidents, the supervisor board."""
