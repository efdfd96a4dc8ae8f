"""Cost: the instance price table that sweeps (worst-case cost checks) and `ml plan` estimates share."""
