"""Articles and premium content; the paywall."""
