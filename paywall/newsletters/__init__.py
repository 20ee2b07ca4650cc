"""Free newsletters (double opt-in, one-click unsubscribe) and members' industry priorities."""
