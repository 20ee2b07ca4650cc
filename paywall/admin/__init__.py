"""Staff screens under /admin/: everyone else gets 404."""
