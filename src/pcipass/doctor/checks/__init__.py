"""Built-in checks, one module per layer. Checks are pure: they read facts, yield results."""
