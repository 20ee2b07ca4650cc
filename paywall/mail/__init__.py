"""Outgoing mail: an outbox written in the caller's transaction, sent later by the worker."""
