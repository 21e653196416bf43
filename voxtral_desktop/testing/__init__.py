"""Test support: synthetic speech and a tiny trained Voxtral that runs offline on CPU."""
