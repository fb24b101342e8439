"""bitsift."""
