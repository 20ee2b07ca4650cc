"""Settings: one class per environment, each overridable by PAYWALL_<NAME> variables."""
