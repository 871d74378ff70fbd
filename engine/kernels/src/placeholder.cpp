// Placeholder so the module configures before its sources land; delete when adding sources.
