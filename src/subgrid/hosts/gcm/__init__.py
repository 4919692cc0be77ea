"""A 3-D moist aquaplanet GCM host: dinosaur-torch dynamics with column physics through the contract."""
