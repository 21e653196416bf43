"""Speech output: neural voices, their catalogue, and a player on the sound device (no Qt)."""
