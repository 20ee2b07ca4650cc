"""Team plans: requests, staff onboarding, seats, invites, domain join, the manager's page."""
