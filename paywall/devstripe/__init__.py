"""The offline Stripe emulator: a WSGI app of its own that speaks the subset of Stripe's HTTP API
this project uses, keeps state, moves time, hosts checkout, portal and invoice pages, and delivers
signed webhooks. A development and test tool only; it binds 127.0.0.1 and refuses production.
"""
