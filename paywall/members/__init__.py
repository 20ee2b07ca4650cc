"""Members as staff see them: search, the member page and its timeline, staff actions,
imports and exports."""
