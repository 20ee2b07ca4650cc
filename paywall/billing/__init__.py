"""Billing: Stripe customers, Checkout, the portal, webhook intake and the local mirror of
subscriptions and invoices. Stripe is the truth for money; these tables follow it."""
