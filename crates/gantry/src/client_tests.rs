// Filled in below, once the independent verifier is merged.
